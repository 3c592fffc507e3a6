"""Submit a launch job to a running Ray cluster through Ray's JobSubmissionClient.

The job's working dir is a fresh folder holding only the resolved config (``config.yaml``);
the entrypoint is the same ``mlops-dl`` command a SkyPilot node runs, with ``--executor ray
--address auto --workers N`` for a Ray Train run when ``workers`` > 0.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from mlops_dl import config as config_mod
from mlops_dl.errors import MlopsError, clip
from mlops_dl.launch.task import REMOTE_CONFIG, LaunchJob

TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")


def entrypoint(job: LaunchJob, workers: int) -> str:
    parts = ["mlops-dl", job.command, "--config", REMOTE_CONFIG]
    if workers > 0 and job.command == "train":
        parts += ["--executor", "ray", "--address", "auto", "--workers", str(workers)]
        if job.gpus:
            parts += ["--gpus-per-worker", "1"]
    elif workers > 0 and job.command == "search":
        parts += ["--executor", "ray", "--address", "auto", "--workers", str(workers)]
    if job.registry:
        parts += ["--set", f"export.registry={job.registry}"]
    return " ".join(parts)


def client(address: str):
    try:
        from ray.job_submission import JobSubmissionClient
    except ImportError:
        raise MlopsError("launch --ray-address needs Ray: pip install 'mlops-dl[ray]'") from None
    try:
        return JobSubmissionClient(address)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise MlopsError(f"Ray cluster {address}: cannot reach its job server: {clip(str(e))}") from None


def submit(address: str, cfg: config_mod.Config, job: LaunchJob, workers: int = 0) -> dict:
    """Submit the job; {"job_id", "entrypoint", "address"}."""
    jobs = client(address)
    with tempfile.TemporaryDirectory(prefix="mlops-dl-job-") as folder:
        config_mod.save(cfg, Path(folder) / REMOTE_CONFIG)
        env = {"MLOPS_DL_REGISTRY": job.registry} if job.registry else {}
        cmd = entrypoint(job, workers)
        try:
            job_id = jobs.submit_job(entrypoint=cmd, runtime_env={"working_dir": folder, "env_vars": env},
                                     metadata={"mlops_dl.command": job.command, "data": cfg.data.name})  # fmt: skip
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise MlopsError(f"Ray cluster {address}: job refused: {clip(str(e))}") from None
    return {"job_id": job_id, "entrypoint": cmd, "address": address}


def wait(address: str, job_id: str, timeout_s: float = 3600.0) -> tuple[str, str]:
    """Poll until the job ends (or ``timeout_s``); (status, the tail of its logs)."""
    jobs = client(address)
    deadline = time.monotonic() + timeout_s
    status = str(jobs.get_job_status(job_id))
    while not any(status.endswith(t) for t in TERMINAL) and time.monotonic() < deadline:
        time.sleep(1.0)
        status = str(jobs.get_job_status(job_id))
    return status.rsplit(".", 1)[-1], jobs.get_job_logs(job_id)[-4000:]
