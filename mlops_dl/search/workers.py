"""Workers: processes that run trials of one study until it holds ``n_trials`` finished ones.

A worker decides to start a trial under the study lock (see ``storage.study_lock``): it fails
stale trials (heartbeats of killed workers), counts finished + in-flight trials and starts one
only below ``n_trials``, so K workers on one or many machines run exactly N trials, not K*N
(optuna's MaxTrialsCallback checks after a trial ends and lets up to K-1 extra ones start).
The trial itself runs in ``study.optimize(n_trials=1)``, with its heartbeat thread.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import time
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import TrialState

from mlops_dl.config import Config
from mlops_dl.errors import MlopsError
from mlops_dl.search.objective import Objective
from mlops_dl.search.space import base_signature, space_signature
from mlops_dl.search.storage import (
    COUNTED, IN_FLIGHT, fail_stale_trials, fresh_trials, open_storage, open_study, study_lock,
)  # fmt: skip

log = logging.getLogger("mlops_dl.search")


def show_progress_log() -> None:
    """Print this package's search progress lines (INFO) on stderr, as Optuna prints its own."""
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("[%(levelname).1s %(asctime)s mlops-dl] %(message)s"))
        log.addHandler(handler)
    log.setLevel(logging.INFO)


@dataclass
class WorkerSpec:
    """Everything a worker process needs (picklable, for multiprocessing spawn)."""

    base: Config
    url: str
    study_name: str
    folder: Path
    n_trials: int
    timeout_s: float
    index: int = 0  # worker number on this machine (seeds, GPU choice)
    threads: int = 0  # torch CPU threads (0 = leave torch's default)
    mlflow_parent: str = ""  # the search's MLflow run: trials log as its nested runs


def work(spec: WorkerSpec) -> int:
    """Run trials until the study is done, the timeout passes or too many failed; trials run."""
    search = spec.base.search
    if spec.mlflow_parent:
        from mlops_dl.train.tracking import PARENT_ENV

        os.environ[PARENT_ENV] = spec.mlflow_parent
    storage = open_storage(spec.url, search.heartbeat_s)
    probe = optuna.load_study(study_name=spec.study_name, storage=storage)
    existing = len(probe.get_trials(deepcopy=False))
    # a seed per worker and per resume: equal seeds would replay the same random startup trials
    seed = search.seed + 1000 * spec.index + existing
    study = open_study(storage, spec.study_name, search, space_signature(search.space), seed,
                       base_signature(spec.base))  # fmt: skip
    max_failures = search.max_failures or max(3, spec.n_trials)
    start, ran, waiting = time.monotonic(), 0, False
    while not (spec.timeout_s and time.monotonic() - start > spec.timeout_s):
        with contextlib.ExitStack() as held:
            held.enter_context(study_lock(storage, spec.study_name))
            fail_stale_trials(study)
            # one read, so a trial finishing meanwhile is counted once (running or finished)
            trials = fresh_trials(storage, spec.study_name)
            finished = sum(t.state in COUNTED for t in trials)
            if finished >= spec.n_trials:
                break
            failed = sum(t.state == TrialState.FAIL for t in trials)
            if failed >= max_failures or (failed >= 3 and not finished):
                log.warning("study %s: %d trials failed (%d finished); stopping",
                            spec.study_name, failed, finished)  # fmt: skip
                break
            running = [t for t in trials if t.state in IN_FLIGHT]
            if finished + len(running) >= spec.n_trials:
                held.close()  # the last trials run elsewhere; wait in case one of them dies
                if not waiting:
                    log.info("study %s: waiting for running trial(s) %s", spec.study_name,
                             ", ".join(str(t.number) for t in running))  # fmt: skip
                waiting = True
                time.sleep(min(search.heartbeat_s, 10))
                continue
            waiting = False
            objective = Objective(spec.base, spec.folder, on_start=held.close)
            try:
                study.optimize(objective, n_trials=1, catch=(Exception,), gc_after_trial=True)
            except (optuna.exceptions.UpdateFinishedTrialError, ValueError) as e:
                if isinstance(e, ValueError) and "Cannot tell" not in str(e):
                    raise
                # another worker took this trial for dead (its heartbeat came late) and failed
                # it; its result is dropped, the study goes on
                log.warning("study %s: a trial's result was dropped: %s", spec.study_name, e)
            ran += 1
    return ran


def run_workers(spec: WorkerSpec, workers: int) -> int:
    """``work`` in this process (1 worker) or in ``workers`` spawned processes; trials run."""
    if workers == 1:
        return work(spec)
    gpus = _visible_gpus()
    threads = max(1, (os.cpu_count() or 1) // workers)
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = []
    for i in range(workers):
        child = WorkerSpec(**{**spec.__dict__, "index": i, "threads": threads})
        gpu = gpus[i % len(gpus)] if gpus else None
        procs.append(ctx.Process(target=_worker_main, args=(child, gpu, queue), daemon=False))
    for p in procs:
        p.start()
    try:
        for p in procs:
            p.join()
    except KeyboardInterrupt:
        for p in procs:
            p.terminate()
        for p in procs:
            p.join()
        raise
    results = _drain(queue)
    errors = [msg for ok, msg in results if not ok]
    bad = [p.exitcode for p in procs if p.exitcode != 0]
    if errors or bad:
        detail = "; ".join(errors) or f"exit codes {bad}"
        raise MlopsError(f"search study {spec.study_name}: a worker failed: {detail}")
    return sum(n for ok, n in results if ok)


def run_ray_workers(spec: WorkerSpec, plan) -> int:
    """``work`` as ``plan.workers`` Ray tasks, each holding the CPUs/GPUs one trial needs."""
    import ray

    from mlops_dl.train.ray_train import check_fits, connect

    started = connect(plan.address)
    try:
        check_fits(plan, ray.cluster_resources())
        task = ray.remote(num_cpus=plan.cpus_per_worker, num_gpus=plan.gpus_per_worker,
                          max_retries=0)(_ray_work)  # fmt: skip
        threads = max(1, int(plan.cpus_per_worker))
        refs = [task.remote(WorkerSpec(**{**spec.__dict__, "index": i, "threads": threads}))
                for i in range(plan.workers)]  # fmt: skip
        try:
            return sum(ray.get(refs))
        except ray.exceptions.RayTaskError as e:
            raise MlopsError(f"search study {spec.study_name}: a Ray worker failed: "
                             f"{type(e.cause).__name__}: {e.cause}") from None  # fmt: skip
    finally:
        if started:
            ray.shutdown()


def _ray_work(spec: WorkerSpec) -> int:
    """A Ray task: one worker (Ray gives it its GPUs through CUDA_VISIBLE_DEVICES)."""
    import torch

    torch.set_num_threads(spec.threads)
    show_progress_log()
    return work(spec)


def _worker_main(spec: WorkerSpec, gpu: str | None, queue) -> None:
    """Entry point of a spawned worker: pin its GPU and CPU threads, then ``work``."""
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu  # before torch initialises CUDA
    import torch

    if spec.threads:
        torch.set_num_threads(spec.threads)
    optuna.logging.set_verbosity(optuna.logging.INFO)
    show_progress_log()
    try:
        queue.put((True, work(spec)))
    except Exception as e:  # noqa: BLE001 - reported to the parent, which raises MlopsError
        queue.put((False, f"worker {spec.index}: {type(e).__name__}: {e}"))
        raise SystemExit(1) from None


def _drain(queue) -> list:
    import queue as queue_mod

    out = []
    while True:
        try:
            out.append(queue.get(timeout=1))
        except queue_mod.Empty:
            return out


def _visible_gpus() -> list[str]:
    """This machine's usable GPU ids (one worker each, round robin); [] without CUDA."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g.strip() for g in visible.split(",") if g.strip() and g.strip() != "-1"]
    try:
        import torch

        return [str(i) for i in range(torch.cuda.device_count())]
    except ImportError:
        return []
