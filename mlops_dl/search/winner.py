"""The study's result: best_config.yaml, and the winner as a normal, evaluated run dir.

With ``search.retrain_winner`` the best trial's config is trained again through the same
``train.fit`` (same seed, full budget, no pruning); otherwise the best trial's own run dir is
kept. Either way that run is evaluated on the test split; it is what ``export`` registers.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from optuna.trial import FrozenTrial

from mlops_dl import files
from mlops_dl import config as config_mod
from mlops_dl.config import Config
from mlops_dl.errors import MlopsError
from mlops_dl.search.objective import trial_run_dir
from mlops_dl.search.space import trial_config
from mlops_dl.train import rundir

WINNER_FILE = "winner.json"


def best_config(base: Config, best: FrozenTrial, study_name: str) -> Config:
    """The base config with the best trial's values (run_name "": each run gets its own id)."""
    cfg = trial_config(base, dict(best.params))
    return config_mod.replace(cfg, {"train.run_name": ""})


def write_best_config(cfg: Config, folder: Path) -> Path:
    path = folder / "best_config.yaml"
    config_mod.save(cfg, path)
    return path


def produce_winner(base: Config, best: FrozenTrial, folder: Path, study_name: str) -> dict:
    """Retrain (or keep) the winner, evaluate it on test; returns winner.json's content.

    Idempotent: when winner.json already names this trial and its run dir has test metrics,
    that run is returned as is (a finished study re-finalised does not retrain).
    """
    previous = _read(folder / WINNER_FILE)
    if previous and previous.get("trial") == best.number and _has_test(previous.get("run_dir")):
        return previous
    from mlops_dl.train.evaluate import evaluate_run

    cfg = best_config(base, best, study_name)
    if base.search.retrain_winner:
        from mlops_dl.train.fitting import fit

        stale = (previous or {}).get("retrain_started")
        if stale and stale.get("trial") == best.number and rundir.has_checkpoint(stale["run_dir"]):
            shutil.rmtree(stale["run_dir"])  # an interrupted retrain of this same trial: start over
        run_dir = Path(cfg.train.runs_dir) / rundir.new_run_id(cfg, study_name)  # the one scheme
        files.write_json(folder / WINNER_FILE, {**(previous or {}), "retrain_started": {
            "trial": best.number, "run_dir": str(run_dir)}})
        result = fit(cfg, run_dir=run_dir, command="search", config_path=folder / "best_config.yaml")
        run_dir, retrain_val = Path(result.run_dir), result.best_score
    else:
        run_dir, retrain_val = trial_run_dir(folder, best.number), None
        if not run_dir.is_dir():
            raise MlopsError(
                f"search: trial {best.number}'s run dir {run_dir} is gone (was it trained on "
                "another machine?); set search.retrain_winner=true to retrain the winner here"
            )
    scores = evaluate_run(run_dir, split="test")
    winner = {
        "trial": best.number,
        "trial_val_macro_f1": best.value,
        "params": best.params,
        "retrained": base.search.retrain_winner,
        "retrain_val_macro_f1": retrain_val,
        "run_dir": str(run_dir),
        "validation": _headline(scores.get("validation", {})),
        "test": _headline(scores.get("test", {})),
        "baseline_test": _headline(scores.get("baseline", {}).get("test", {})),
    }
    _write(folder / WINNER_FILE, winner)
    return winner


def remove_trial_runs(folder: Path, keep: int | None) -> None:
    """Delete trial run dirs except trial ``keep`` (the winner when it is not retrained)."""
    trials = folder / "trials"
    if not trials.is_dir():
        return
    for run in trials.iterdir():
        if keep is None or run != trial_run_dir(folder, keep):
            shutil.rmtree(run, ignore_errors=True)


def _headline(report: dict) -> dict:
    keys = ("accuracy", "macro_precision", "macro_recall", "macro_f1")
    return {k: report[k] for k in keys if k in report}


def _has_test(run_dir: str | None) -> bool:
    if not run_dir:
        return False
    try:
        return bool(rundir.read_metrics(run_dir).get("test"))
    except MlopsError:  # unreadable metrics.json: evaluate again
        return False


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def _write(path: Path, data: dict) -> None:
    files.write_json(path, data)
