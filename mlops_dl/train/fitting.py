"""Fine-tuning: ``fit(cfg)`` goes from a config to a run directory with the best model in it.

The run directory's layout, writers and readers are `train.rundir` (the run-dir contract).
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from mlops_dl import quiet
from mlops_dl.config import Config, TrainConfig
from mlops_dl.data.prepared import load_prepared, output_path
from mlops_dl.errors import ConfigError, MlopsError
from mlops_dl.train import rundir, tracking
from mlops_dl.train.datamodule import TextDataModule
from mlops_dl.train.model import SequenceClassifier, class_weights, load_network
from mlops_dl.train.precision import resolve_precision

MONITOR = "val_macro_f1"
LIGHTNING_LOG = "lightning.pytorch.utilities.rank_zero"  # where Lightning's info notices go
RUN_ID_ENV = "MLOPS_DL_RUN_ID"  # set for the child processes of a multi-GPU run


@dataclass
class FitResult:
    run_dir: Path
    best_score: float | None  # best validation macro-F1 (None when no validation ran)
    global_step: int
    best_checkpoint: str
    resumed_from_step: int | None
    duration_s: float
    world_size: int = 1  # processes that trained (devices x num_nodes)
    effective_batch_size: int = 0  # texts per optimizer step: batch_size x world_size x grad_accum
    is_global_zero: bool = True  # this process is rank 0 (the one that prints and writes)
    tracking: dict | None = None  # the MLflow run (train.logger: mlflow), see train.tracking


def launch_rank_zero() -> bool:
    """This process is global rank 0, by the launcher's env (Lightning, torchrun, SLURM, Ray).

    Known before the Trainer exists, so only rank 0 announces the run dir and writes its records.
    """
    for key in ("RANK", "SLURM_PROCID"):  # torchrun / SLURM set the global rank
        if os.environ.get(key):
            return int(os.environ[key]) == 0
    # Lightning-started ranks: LOCAL_RANK and NODE_RANK (also set for rank 0 of later nodes)
    return int(os.environ.get("LOCAL_RANK", 0) or 0) == 0 and int(os.environ.get("NODE_RANK", 0) or 0) == 0


def fit(
    cfg: Config, run_dir: str | Path | None = None, resume: str | Path | None = None,
    callbacks: Sequence[Callback] = (), on_run_dir: Callable[[Path], None] | None = None,
    placement: Placement | None = None, command: str = "train",
    config_path: str | Path | None = None,
) -> FitResult:  # fmt: skip
    """Train ``cfg`` into a run dir; ``resume`` continues that run dir from its last.ckpt.

    ``callbacks`` are added to the Trainer (search passes an Optuna pruning callback that
    watches ``val_macro_f1``). ``on_run_dir`` is called with the run dir as soon as it exists
    (the CLI prints it, so a killed run can be found and resumed). ``placement`` replaces the
    Trainer's strategy and devices (Ray Train's workers, see ``train.ray_train``). ``command``
    and ``config_path`` go to run.json (what started the run).
    """
    # 1. the run directory, and the checkpoint when resuming
    data = load_prepared(output_path(cfg))
    run_dir, ckpt = open_run_dir(cfg, run_dir, resume)
    rank_zero = launch_rank_zero() if placement is None else placement.rank == 0
    if on_run_dir is not None and rank_zero and RUN_ID_ENV not in os.environ:
        on_run_dir(run_dir)
    tracker = tracking.open_tracker(cfg, run_dir, rank_zero)  # fails now if MLflow is unreachable
    L.seed_everything(cfg.train.seed, workers=True, verbose=False)
    if cfg.train.num_threads > 0:
        torch.set_num_threads(cfg.train.num_threads)
    # 2. network, data, LightningModule
    network, tokenizer = load_network(cfg.model, data.labels)
    datamodule = TextDataModule(data, tokenizer, cfg.model.max_length, cfg.train)
    train_labels = data.frame("train")["label"].tolist()
    weights = class_weights(train_labels, len(data.labels)) if cfg.train.class_weights else None
    module = SequenceClassifier(network, cfg.train, data.labels, weights)
    # 3. the records a run dir carries (rank 0 only: no two ranks racing on a file)
    if rank_zero:
        rundir.write_run_info(run_dir, command, config_path)
        rundir.write_config(run_dir, cfg)
        rundir.write_env(run_dir)
        rundir.write_data(run_dir, data)
    # 4. train
    with quiet.drop_messages(LIGHTNING_LOG, *quiet.LIGHTNING_NOTICES):  # adverts, hardware lines
        trainer = build_trainer(cfg.train, run_dir, callbacks, attempt=_attempt(run_dir, ckpt),
                                placement=placement, extra_loggers=tracker.loggers())  # fmt: skip
        start, resumed_from = time.perf_counter(), _checkpoint_step(ckpt)
        _run_trainer(trainer, module, datamodule, run_dir, ckpt)
        if module.best_score is None and cfg.train.limit_val_batches > 0:  # stopped before any check
            trainer.validate(module, datamodule=datamodule, verbose=False)
    # 5. the best weights, as a save_pretrained model
    best = save_best_model(trainer, module, tokenizer, run_dir)
    world = trainer.world_size
    result = FitResult(run_dir, module.best_score, trainer.global_step, best, resumed_from,
                       round(time.perf_counter() - start, 1), world,
                       cfg.train.batch_size * world * cfg.train.grad_accum, trainer.is_global_zero)  # fmt: skip
    if trainer.is_global_zero:
        if module.best_report is not None:
            rundir.merge_metrics(run_dir, {"validation": module.best_report})
        result.tracking = tracker.finish(run_dir, result, data.fingerprints)
        rundir.write_fit(run_dir, {**asdict(result), "run_dir": str(run_dir)})
    return result


def _run_trainer(trainer: L.Trainer, module, datamodule, run_dir: Path, ckpt: Path | None) -> None:
    os.environ[RUN_ID_ENV] = run_dir.name  # DDP ranks started by Lightning open the same dir
    try:
        with warnings.catch_warnings():  # the datamodule skips the batches already trained on
            warnings.filterwarnings("ignore", message=".*ended before the epoch ended.*")
            warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")  # Lightning-internal
            trainer.fit(module, datamodule=datamodule, ckpt_path=str(ckpt) if ckpt else None)
    finally:
        os.environ.pop(RUN_ID_ENV, None)


def open_run_dir(cfg: Config, run_dir, resume) -> tuple[Path, Path | None]:
    """(run dir, checkpoint to resume from or None); a new run dir gets a fresh id."""
    if resume is not None:
        run_dir = Path(resume)
        ckpt = rundir.last_checkpoint(run_dir)
        if not ckpt.is_file():
            raise MlopsError(f"cannot resume {run_dir}: no {ckpt.relative_to(run_dir)} in it")
        return run_dir, ckpt
    if run_dir is None:  # DDP ranks that Lightning starts inherit rank 0's run id via the env
        run_id = cfg.train.run_name or os.environ.get(RUN_ID_ENV) or rundir.new_run_id(cfg)
        run_dir = Path(cfg.train.runs_dir) / run_id
    run_dir = Path(run_dir)
    if rundir.last_checkpoint(run_dir).exists():
        raise MlopsError(f"run dir {run_dir} already holds a run; use --resume {run_dir} to continue it")
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir, None


@dataclass
class Placement:
    """Where the Trainer's processes come from when not from ``train.devices/strategy``."""

    rank: int  # this worker's global rank
    trainer_kwargs: dict  # strategy, plugins, devices, accelerator (e.g. Ray's)
    callbacks: Sequence[Callback] = ()
    prepare: Callable[[L.Trainer], L.Trainer] | None = None  # e.g. ray.train.lightning.prepare_trainer


def build_trainer(tc: TrainConfig, run_dir: Path, callbacks: Sequence[Callback] = (),
                  attempt: int = 0, placement: Placement | None = None,
                  extra_loggers: Sequence = ()) -> L.Trainer:  # fmt: skip
    """The Trainer for ``tc``: best/last checkpoints, early stopping, loggers, progress."""
    ckpt_dir = rundir.checkpoints_dir(run_dir)
    every = tc.checkpoint_every_n_steps or None
    cbs: list[Callback] = [
        ModelCheckpoint(dirpath=ckpt_dir, filename="best-step{step}", monitor=MONITOR, mode="max",
                        save_top_k=1, auto_insert_metric_name=False),
        # last.ckpt: every N steps and at each validation end, always overwritten in place
        ModelCheckpoint(dirpath=ckpt_dir, every_n_train_steps=every, save_top_k=0, save_last=True,
                        enable_version_counter=False),
        LearningRateMonitor(logging_interval="step"),
    ]  # fmt: skip
    if tc.early_stopping_patience > 0:
        cbs.append(EarlyStopping(MONITOR, mode="max", patience=tc.early_stopping_patience))
    cbs.append(_progress_callback(tc))
    version = "" if attempt == 0 else f"resume-{attempt}"  # a resume keeps the earlier CSV
    loggers = [CSVLogger(run_dir, name=rundir.LOGS, version=version)]
    if tc.logger == "tensorboard":
        loggers.append(TensorBoardLogger(run_dir, name=rundir.LOGS, version=f"tensorboard{version and '-' + version}"))
    loggers.extend(extra_loggers)
    where = {"accelerator": tc.accelerator, "devices": tc.devices, "strategy": tc.strategy,
             "num_nodes": tc.num_nodes}  # fmt: skip
    if placement is not None:
        where = placement.trainer_kwargs
        cbs.extend(placement.callbacks)
    interval = int(tc.val_check_interval) if tc.val_check_interval > 1 else tc.val_check_interval
    try:
        trainer = L.Trainer(
            **where, precision=resolve_precision(tc.precision, tc.accelerator)[0],
            max_epochs=-1 if tc.max_steps > 0 else tc.epochs, max_steps=tc.max_steps,
            max_time={"minutes": tc.max_time_min} if tc.max_time_min > 0 else None,
            val_check_interval=interval,
            check_val_every_n_epoch=None if isinstance(interval, int) else 1,
            accumulate_grad_batches=tc.grad_accum,
            gradient_clip_val=tc.grad_clip or None,
            deterministic=tc.deterministic,
            limit_train_batches=tc.limit_train_batches, limit_val_batches=tc.limit_val_batches,
            log_every_n_steps=tc.log_every_n_steps,
            callbacks=[*cbs, *callbacks], logger=loggers,
            enable_progress_bar=tc.progress_bar and sys.stdout.isatty(), num_sanity_val_steps=0,
            use_distributed_sampler=False,  # our batch sampler shards by rank itself
            default_root_dir=run_dir, enable_model_summary=False,
        )  # fmt: skip
        return placement.prepare(trainer) if placement and placement.prepare else trainer
    except (ValueError, RuntimeError, TypeError) as e:  # MisconfigurationException is a ValueError
        raise ConfigError(f"train section: the Trainer refused it: {e}") from None


def _progress_callback(tc: TrainConfig) -> Callback:
    """A rich progress bar on a terminal; plain log lines when writing to a file."""
    if tc.progress_bar and sys.stdout.isatty():
        from lightning.pytorch.callbacks import RichProgressBar

        return RichProgressBar()
    from mlops_dl.train.progress import LineProgress

    return LineProgress(every_n_steps=max(tc.log_every_n_steps, 1))


def _attempt(run_dir: Path, ckpt: Path | None) -> int:
    if ckpt is None:
        return 0
    return 1 + len(list(rundir.logs_dir(run_dir).glob("resume-*")))


def _checkpoint_step(ckpt: Path | None) -> int | None:
    if ckpt is None:
        return None
    state = torch.load(ckpt, map_location="cpu", weights_only=False, mmap=True)
    return int(state.get("global_step", 0))


def save_best_model(trainer: L.Trainer, module: SequenceClassifier, tokenizer, run_dir: Path) -> str:
    """Load the best checkpoint's weights (if any) and save_pretrained them into run_dir/model."""
    best = ""
    for cb in trainer.checkpoint_callbacks:
        if getattr(cb, "monitor", None) == MONITOR and cb.best_model_path:
            best = cb.best_model_path
    if best and trainer.is_global_zero:  # only rank 0 saves (and may be the only one that sees it)
        state = torch.load(best, map_location="cpu", weights_only=False)["state_dict"]
        network_state = {k.removeprefix("network."): v for k, v in state.items() if k.startswith("network.")}
        module.network.load_state_dict(network_state)
    if trainer.is_global_zero:
        out = rundir.model_dir(run_dir)
        tmp = run_dir / f".{out.name}.tmp"
        module.network.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        if out.exists():
            import shutil

            shutil.rmtree(out)
        tmp.rename(out)
    return best
