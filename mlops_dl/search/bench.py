"""The pruning benchmark: a pruned study against an unpruned one, and pruners replayed.

``study_figures`` gives what the benchmark compares for one study: its best validation
macro-F1 and the optimizer steps its finished trials (complete + pruned) trained for; trials
of killed workers (FAIL) are counted apart, they are a cost of the kill, not of the pruner.

``replay`` runs a pruner over an unpruned study's full learning curves, trial by trial in
number order. Every replayed trial has the configuration the unpruned study sampled, so the
only difference is the pruner: what it would have saved and whether it would have cut the
winner. Real searches run trials in parallel, so fewer trials have finished when a trial is
judged; the sequential replay therefore prunes a little more than K workers would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import optuna
from optuna.trial import FrozenTrial, TrialState

from mlops_dl.search.report import best_trial, trial_steps
from mlops_dl.search.storage import COUNTED as FINISHED  # complete + pruned


@dataclass
class StudyFigures:
    """One study's benchmark figures."""

    name: str
    finished: int
    pruned: int
    failed: int
    steps: int  # optimizer steps of the finished trials
    failed_steps: int  # steps recorded by failed trials (killed workers record none)
    best_value: float | None
    best_number: int | None


@dataclass
class Replay:
    """A pruner replayed on full curves: per trial the check it was cut at and its steps."""

    pruned_at: dict[int, int | None] = field(default_factory=dict)  # trial -> check or None
    steps: dict[int, int] = field(default_factory=dict)
    full_steps: int = 0
    best_value: float | None = None  # best score among the trials that were not cut
    best_number: int | None = None
    winner_number: int | None = None  # the unpruned study's winner

    @property
    def total_steps(self) -> int:
        return sum(self.steps.values())

    @property
    def step_ratio(self) -> float:
        return self.total_steps / self.full_steps if self.full_steps else math.nan

    @property
    def keeps_winner(self) -> bool:
        return self.winner_number is not None and self.pruned_at.get(self.winner_number) is None


def study_figures(study: optuna.Study) -> StudyFigures:
    trials = study.get_trials(deepcopy=False)
    finished = [t for t in trials if t.state in FINISHED]
    failed = [t for t in trials if t.state == TrialState.FAIL]
    best = best_trial(study)
    return StudyFigures(
        name=study.study_name,
        finished=len(finished),
        pruned=sum(t.state == TrialState.PRUNED for t in finished),
        failed=len(failed),
        steps=sum(trial_steps(t) for t in finished),
        failed_steps=sum(trial_steps(t) for t in failed),
        best_value=best.value if best else None,
        best_number=best.number if best else None,
    )


def replay(
    full: optuna.Study, pruner: optuna.pruners.BasePruner, steps_per_check: int
) -> Replay:
    """``pruner`` over the completed trials of the unpruned study ``full``, in number order.

    A trial cut at check ``c`` is charged ``c * steps_per_check`` steps (at most its own).
    """
    if steps_per_check < 1:
        raise ValueError(f"steps_per_check must be >= 1, got {steps_per_check}")
    done = sorted(
        (t for t in full.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
         if t.intermediate_values),
        key=lambda t: t.number,
    )  # fmt: skip
    sim = optuna.create_study(direction="maximize", pruner=pruner,
                              sampler=optuna.samplers.RandomSampler(seed=0))  # fmt: skip
    out = Replay()
    winner = best_trial(full)
    out.winner_number = winner.number if winner else None
    for original in done:
        check = _replay_one(sim, original)
        own = trial_steps(original)
        out.full_steps += own
        out.pruned_at[original.number] = check
        out.steps[original.number] = own if check is None else min(own, check * steps_per_check)
    kept = [t for t in done if out.pruned_at[t.number] is None]
    if kept:
        top = max(kept, key=lambda t: (t.value, -t.number))
        out.best_value, out.best_number = top.value, top.number
    return out


def _replay_one(sim: optuna.Study, original: FrozenTrial) -> int | None:
    """Report the original's curve into a fresh trial of ``sim``; the check it is cut at."""
    trial = sim.ask()
    for check in sorted(original.intermediate_values):
        trial.report(original.intermediate_values[check], check)
        if trial.should_prune():
            sim.tell(trial, state=TrialState.PRUNED)
            return check
    sim.tell(trial, original.value)
    return None
