"""One trial: sample the space, train through ``train.fit`` with the pruning callback, score.

The score is the trial's best validation macro-F1 (``FitResult.best_score``). Pruned trials
end PRUNED; any other exception (non-finite loss, out of memory, a bad sampled config) ends
the trial FAIL with the reason in its user attrs, and the study goes on.
"""

from __future__ import annotations

import math
import os
import shutil
import socket
from pathlib import Path
from typing import Callable

import optuna
from optuna.trial import TrialState

from mlops_dl.config import Config
from mlops_dl.search.pruning import OptunaPruning
from mlops_dl.search.space import suggest, trial_config
from mlops_dl.train import rundir
from mlops_dl.train.fitting import fit

REASON_ATTR = "fail_reason"


def trial_run_dir(folder: Path, number: int) -> Path:
    return folder / "trials" / f"trial-{number:04d}"


class Objective:
    """Callable for ``study.optimize``; ``on_start`` runs first (it releases the study lock)."""

    def __init__(self, base: Config, folder: Path, on_start: Callable[[], None] = lambda: None):
        self.base = base
        self.folder = folder
        self.on_start = on_start

    def __call__(self, trial: optuna.Trial) -> float:
        self.on_start()
        run_dir = trial_run_dir(self.folder, trial.number)
        if run_dir.exists():  # left by a killed search of a deleted study of the same name
            shutil.rmtree(run_dir)
        trial.set_user_attr("run_dir", str(run_dir))
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        pruning = OptunaPruning(trial)
        state, score = TrialState.FAIL, None
        try:
            cfg = trial_config(self.base, suggest(trial, self.base.search.space))
            result = fit(cfg, run_dir=run_dir, callbacks=[pruning], command="search trial")
            score = result.best_score
            trial.set_user_attr("global_step", int(result.global_step))
            trial.set_user_attr("val_checks", pruning.checks)
            if result.tracking:
                trial.set_user_attr("mlflow_run_id", result.tracking["run_id"])
            if score is None or not math.isfinite(float(score)):
                raise RuntimeError(f"training ended without a finite validation score ({score})")
            state = TrialState.COMPLETE
            return float(score)
        except BaseException as e:  # noqa: BLE001 - classified, recorded, then re-raised
            trial.set_user_attr("global_step", int(pruning.global_step))
            trial.set_user_attr("val_checks", pruning.checks)
            if pruning.pruned_at is not None or _caused_by(e, optuna.TrialPruned):
                state = TrialState.PRUNED
                trial.set_user_attr("pruned_at_check", pruning.checks)
                raise optuna.TrialPruned(str(e)) from None  # unwrapped, whatever Lightning did
            trial.set_user_attr(REASON_ATTR, _reason(e))
            _free_accelerator_memory()
            raise
        finally:
            self._clean(trial, run_dir, score if state == TrialState.COMPLETE else None)

    def _clean(self, trial: optuna.Trial, run_dir: Path, score: float | None) -> None:
        """Delete the trial's run dir unless it is kept: keep_trial_runs, or (when the winner
        is not retrained) a completed trial that beats every earlier one - its run is the result.

        A kept trial run loses its Lightning checkpoints: trials are never resumed, and model/
        already holds the best weights (evaluate and export read it): ~90 MB, not ~600 MB.
        """
        search = self.base.search
        if not run_dir.exists():
            return
        best_so_far = (score is not None and not search.retrain_winner
                       and score > _best_value(trial.study))  # fmt: skip
        if search.keep_trial_runs or best_so_far:  # finalize removes best-so-far runs that lost
            shutil.rmtree(rundir.checkpoints_dir(run_dir), ignore_errors=True)
            return
        shutil.rmtree(run_dir, ignore_errors=True)


def _best_value(study: optuna.Study) -> float:
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return max((t.value for t in done if t.value is not None), default=-math.inf)


def _caused_by(error: BaseException, kind: type[BaseException]) -> bool:
    """True if ``error`` or anything in its cause/context chain is a ``kind``."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, kind):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def _reason(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}".strip()
    return text if len(text) <= 2000 else text[:2000] + " ..."


def _free_accelerator_memory() -> None:
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()  # an OOM trial must not starve the next one
