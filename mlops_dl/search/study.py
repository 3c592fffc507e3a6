"""``run_search``: open (or resume) a study, run its trials on K workers, report, pick the winner.

Steps: 1. resolve the study (name, folder, storage) and check data and space up front;
2. run the workers until the study holds ``n_trials`` finished trials; 3. write the report
(trials.csv, plots, summary.json); 4. write best_config.yaml, retrain and evaluate the winner,
clean up trial run dirs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from mlops_dl import files
from mlops_dl import config as config_mod
from mlops_dl.config import Config
from mlops_dl.data.prepared import load_prepared, output_path
from mlops_dl.errors import ConfigError, MlopsError
from mlops_dl.search import report, storage as storage_mod, winner as winner_mod
from mlops_dl.search.space import base_params, base_signature, space_signature
from mlops_dl.search.workers import WorkerSpec, run_ray_workers, run_workers


@dataclass
class SearchRun:
    """A study after its trials ran: where it lives and what it holds."""

    cfg: Config  # the base config (with the command-line search settings applied)
    study: optuna.Study
    folder: Path
    storage: str  # URL with the password hidden
    trials_run: int  # trials this invocation ran
    summary: dict = field(default_factory=dict)
    plots: list[Path] = field(default_factory=list)
    skipped_plots: dict[str, str] = field(default_factory=dict)
    best_config: Path | None = None
    winner: dict | None = None


def search_config(cfg: Config, **settings: Any) -> Config:
    """``cfg`` with non-None ``search.<key>`` settings (from the command line) applied."""
    values = {f"search.{k}": v for k, v in settings.items() if v is not None}
    return config_mod.replace(cfg, values) if values else cfg


def run_search(cfg: Config, finalize: bool = True, ray_plan=None) -> SearchRun:
    """Trials, report and (``finalize``) the retrained, evaluated winner."""
    run = optimize(cfg, ray_plan)
    return finish(run) if finalize else run


def optimize(cfg: Config, ray_plan=None) -> SearchRun:
    """Steps 1-3: run the study's trials on ``search.workers`` processes (or ``ray_plan``'s
    Ray tasks, a ``train.ray_train.RayPlan``), then report."""
    search = cfg.search
    if not search.space:
        raise ConfigError("search.space is empty: declare at least one key to search, "
                          "e.g. search.space.train.lr: {type: float, low: 1e-5, high: 1e-4, log: true}")  # fmt: skip
    load_prepared(output_path(cfg))  # fail now, not in every trial
    folder = storage_mod.study_dir(search, search.study_name)
    folder.mkdir(parents=True, exist_ok=True)
    url = storage_mod.storage_url(search, search.study_name)
    rdb = storage_mod.open_storage(url, search.heartbeat_s)
    study = storage_mod.open_study(rdb, search.study_name, search, space_signature(search.space),
                                   search.seed, base_signature(cfg))  # fmt: skip
    config_mod.save(cfg, folder / "base_config.yaml")
    _enqueue_base(cfg, rdb, study)
    base = cfg
    if search.workers > 1:  # K progress bars on one terminal are unreadable
        base = config_mod.replace(cfg, {"train.progress_bar": False})
    spec = WorkerSpec(base, url, search.study_name, folder, search.n_trials, search.timeout_s)
    if cfg.train.logger == "mlflow":
        from mlops_dl.train import tracking

        spec.mlflow_parent = tracking.start_parent_run(cfg, f"search {search.study_name}")
    ran = run_workers(spec, search.workers) if ray_plan is None else run_ray_workers(spec, ray_plan)
    run = SearchRun(cfg, study, folder, storage_mod.redact(url), ran)
    write_report(run)
    if spec.mlflow_parent:
        tracking.end_parent_run(cfg, spec.mlflow_parent, run.summary)
        run.summary["mlflow_parent_run"] = spec.mlflow_parent
        _write_summary(run)
    return run


def _enqueue_base(cfg: Config, rdb, study: optuna.Study) -> None:
    """A new study's first trial: the base config's values (once, even with many workers)."""
    start = base_params(cfg) if cfg.search.enqueue_base else {}
    if not start:
        return
    with storage_mod.study_lock(rdb, study.study_name):
        if not study.get_trials(deepcopy=False):
            study.enqueue_trial(start, user_attrs={"base_config": True})


def write_report(run: SearchRun) -> None:
    """trials.csv, the PNG plots and summary.json in the study folder."""
    report.write_trials_csv(run.study, run.folder / "trials.csv")
    run.plots, run.skipped_plots = report.write_plots(run.study, run.folder)
    run.summary = report.summary_counts(run.study)
    _write_summary(run)


def finish(run: SearchRun) -> SearchRun:
    """Step 4: best_config.yaml, the winner run (retrained or kept), evaluated on test."""
    best = report.best_trial(run.study)
    if best is None:
        raise MlopsError(
            f"search study {run.study.study_name}: no trial completed, so there is no winner "
            f"({_failure_digest(run.study)})"
        )
    cfg = run.cfg
    run.best_config = winner_mod.write_best_config(
        winner_mod.best_config(cfg, best, run.study.study_name), run.folder
    )
    run.winner = winner_mod.produce_winner(cfg, best, run.folder, run.study.study_name)
    if not cfg.search.keep_trial_runs:
        keep = None if cfg.search.retrain_winner else best.number
        winner_mod.remove_trial_runs(run.folder, keep)
    _write_summary(run)
    return run


def _failure_digest(study: optuna.Study) -> str:
    failed = study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
    if not failed:
        return "no trial ran; raise --trials or --timeout"
    reasons = {t.user_attrs.get("fail_reason", "killed or stale") for t in failed}
    return f"{len(failed)} failed: " + " | ".join(sorted(reasons)[:3])


def _write_summary(run: SearchRun) -> None:
    data = {
        "study": run.study.study_name,
        "storage": run.storage,
        **run.summary,
        "plots": [p.name for p in run.plots],
        "skipped_plots": run.skipped_plots,
        "best_config": str(run.best_config) if run.best_config else None,
        "winner": run.winner,
    }
    path = run.folder / "summary.json"
    files.write_json(path, data)
