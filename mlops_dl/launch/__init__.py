"""Launch training on GPU machines: a SkyPilot task file, or a job on a running Ray cluster.

``task`` builds the job (what runs, which local files travel with it); ``skypilot`` writes it as
a SkyPilot task; ``ray_jobs`` submits it through Ray's JobSubmissionClient.
"""
