"""Ray Train: the same ``fit`` inside ``ray.train.torch.TorchTrainer``; the run dir on the driver.

``fit_on_ray`` steps: 1. connect to Ray (``local``, ``auto`` or ``ray://host:10001``) and refuse
more workers than the cluster's CPUs/GPUs hold, before anything starts; 2. open the run dir on
the driver and write its config and data records; 3. TorchTrainer runs ``train_loop`` on N
workers: ``fit`` into a scratch run dir with Lightning's Ray integration (RayDDPStrategy,
RayLightningEnvironment, RayTrainReportCallback, prepare_trainer), checkpoints through Ray
Train's storage (``storage_path``: a folder or ``s3://``); rank 0 reports its finished run dir
(model, logs, metrics, fit.json) as the last checkpoint; 4. the driver copies it into the run
dir, so ``evaluate``, ``export`` and ``pipeline`` read it as any other run.
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mlops_dl.config import Config
from mlops_dl.data.prepared import load_prepared, output_path
from mlops_dl.errors import ConfigError, MlopsError
from mlops_dl.train import rundir

RAY_STORAGE = "ray"  # <run dir>/ray/: Ray Train's checkpoints when no storage_path is given
FROM_WORKER = (rundir.MODEL, rundir.LOGS, rundir.METRICS, rundir.FIT, rundir.ENV, rundir.TRACKING)


@dataclass
class RayPlan:
    """How many Ray workers, with which resources, on which cluster."""

    address: str = "local"  # local (start one here), auto (a running cluster), ray://host:10001
    workers: int = 2
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    storage_path: str = ""  # "" = <run dir>/ray ; a folder every node sees, or s3://bucket/prefix

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ConfigError(f"--workers {self.workers}: must be >= 1")
        if self.cpus_per_worker <= 0 or self.gpus_per_worker < 0:
            raise ConfigError("--cpus-per-worker must be > 0 and --gpus-per-worker >= 0")


def require_ray_train() -> None:
    """One line naming the extra when Ray Train is not installed."""
    try:
        missing = importlib.util.find_spec("ray") is None or importlib.util.find_spec("ray.train") is None
    except (ImportError, ValueError):
        missing = True
    if missing:
        raise MlopsError("--executor ray needs Ray Train: pip install 'mlops-dl[ray]' (ray[train])")


def connect(address: str) -> bool:
    """ray.init for ``address`` unless Ray is up in this process; True when we started it."""
    import ray

    if ray.is_initialized():
        return False
    try:
        # "local": always a new Ray here (ray.init() alone would join a `ray start` cluster)
        ray.init(address=address, log_to_driver=True)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise MlopsError(f"Ray cluster {address}: cannot connect: {e}") from None
    return True


def check_fits(plan: RayPlan, resources: dict) -> None:
    """Refuse a plan that asks more CPUs/GPUs than the cluster has, naming both figures."""
    cpus, gpus = float(resources.get("CPU", 0)), float(resources.get("GPU", 0))
    need_cpu, need_gpu = plan.workers * plan.cpus_per_worker, plan.workers * plan.gpus_per_worker
    if need_cpu > cpus or need_gpu > gpus:
        raise MlopsError(
            f"--workers {plan.workers} x {plan.cpus_per_worker:g} CPU / {plan.gpus_per_worker:g} GPU "
            f"needs {need_cpu:g} CPUs and {need_gpu:g} GPUs; the Ray cluster has {cpus:g} CPUs and "
            f"{gpus:g} GPUs"
        )


def fit_on_ray(cfg: Config, plan: RayPlan, on_run_dir=None):
    """Steps 1-4 above; the FitResult of rank 0 with the driver's run dir."""
    require_ray_train()
    from mlops_dl.train.fitting import FitResult, open_run_dir

    # 1. the cluster, and whether the plan fits it
    load_prepared(output_path(cfg))  # fail here, not in N workers
    started = connect(plan.address)
    try:
        import ray

        check_fits(plan, ray.cluster_resources())
        # 2. the run dir on the driver
        run_dir, _ = open_run_dir(cfg, None, None)
        if on_run_dir is not None:
            on_run_dir(run_dir)
        rundir.write_config(run_dir, cfg)
        rundir.write_data(run_dir, load_prepared(output_path(cfg)))
        # 3. the workers
        result = _run_trainer(cfg, plan, run_dir)
        # 4. rank 0's run dir, copied in
        if result.checkpoint is None:
            raise MlopsError(f"Ray Train run {run_dir.name}: no worker reported a finished run")
        with result.checkpoint.as_directory() as payload:
            record = copy_payload(Path(payload), run_dir)
    finally:
        if started:
            ray.shutdown()
    record.update({"run_dir": str(run_dir), "executor": "ray", "ray_storage": str(result.path)})
    rundir.write_fit(run_dir, record)
    fields = {k: record[k] for k in FitResult.__dataclass_fields__ if k in record}
    return FitResult(**{**fields, "run_dir": run_dir})


def _run_trainer(cfg: Config, plan: RayPlan, run_dir: Path):
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    storage = plan.storage_path or str((run_dir / RAY_STORAGE).resolve())
    trainer = TorchTrainer(
        train_loop,
        train_loop_config={"cfg": cfg, "run_name": run_dir.name, "cpus": plan.cpus_per_worker},
        scaling_config=ScalingConfig(
            num_workers=plan.workers, use_gpu=plan.gpus_per_worker > 0,
            resources_per_worker={"CPU": plan.cpus_per_worker,
                                  **({"GPU": plan.gpus_per_worker} if plan.gpus_per_worker else {})},
        ),
        run_config=RunConfig(name=run_dir.name, storage_path=storage),
    )  # fmt: skip
    try:
        return trainer.fit()
    except Exception as e:  # TrainingFailedError carries the worker's traceback
        raise MlopsError(f"Ray Train run {run_dir.name} failed: {_root_cause(e)}") from None


def _root_cause(e: BaseException) -> str:
    while e.__cause__ is not None:
        e = e.__cause__
    return f"{type(e).__name__}: {str(e).strip().splitlines()[-1] if str(e).strip() else ''}"


def train_loop(config: dict) -> None:
    """One Ray Train worker: ``fit`` with Ray's strategy; rank 0 reports its run dir."""
    import ray.train
    import torch
    from ray.train import Checkpoint
    from ray.train.lightning import (
        RayDDPStrategy, RayLightningEnvironment, RayTrainReportCallback, prepare_trainer,
    )  # fmt: skip

    from mlops_dl.train.fitting import Placement, fit

    cfg: Config = config["cfg"]
    rank = ray.train.get_context().get_world_rank()
    if cfg.train.num_threads <= 0:
        torch.set_num_threads(max(1, int(config["cpus"])))
    use_gpu = torch.cuda.is_available() and cfg.train.accelerator != "cpu"
    placement = Placement(
        rank=rank,
        trainer_kwargs={"strategy": RayDDPStrategy(), "plugins": [RayLightningEnvironment()],
                        "devices": "auto", "accelerator": "gpu" if use_gpu else "cpu"},
        callbacks=[RayTrainReportCallback()], prepare=prepare_trainer,
    )  # fmt: skip
    scratch = Path(tempfile.mkdtemp(prefix="mlops-dl-ray-")) / config["run_name"]
    try:
        fit(cfg, run_dir=scratch, placement=placement)
        if rank == 0:
            payload = scratch.parent / "payload"
            pack_payload(scratch, payload)
            ray.train.report({"finished": 1}, checkpoint=Checkpoint.from_directory(str(payload)))
        else:
            ray.train.report({"finished": 1})
    finally:
        shutil.rmtree(scratch.parent, ignore_errors=True)


def pack_payload(run_dir: Path, payload: Path) -> None:
    """The parts of a worker's run dir the driver takes (no checkpoints: Ray's storage has them)."""
    payload.mkdir(parents=True, exist_ok=True)
    for name in FROM_WORKER:
        src = run_dir / name
        if src.is_dir():
            shutil.copytree(src, payload / name)
        elif src.is_file():
            shutil.copy2(src, payload / name)


def copy_payload(payload: Path, run_dir: Path) -> dict:
    """Copy rank 0's run-dir parts into the driver's run dir; its fit.json record."""
    for name in FROM_WORKER:
        src, dest = payload / name, run_dir / name
        if src.is_dir():
            shutil.copytree(src, dest, dirs_exist_ok=True)
        elif src.is_file():
            shutil.copy2(src, dest)
    if not rundir.has_model(run_dir):
        raise MlopsError(f"Ray Train run {run_dir.name}: rank 0 reported no model/")
    return rundir.read_json(run_dir, rundir.FIT)
