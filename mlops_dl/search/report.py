"""The study report: a rich table of trials, trials.csv, PNG plots and summary figures."""

from __future__ import annotations

import logging
import math
import warnings
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState
from rich.table import Table

from mlops_dl import files

log = logging.getLogger("mlops_dl.search")


def trial_steps(trial: FrozenTrial) -> int:
    """Optimizer steps a trial trained for (pruned and failed trials included)."""
    return int(trial.user_attrs.get("global_step", 0))


def summary_counts(study: optuna.Study) -> dict:
    """Trials per state, total training steps and the best trial's figures."""
    trials = study.get_trials(deepcopy=False)
    by_state = {s.name.lower(): sum(t.state == s for t in trials) for s in TrialState}
    out = {
        "trials": len(trials),
        "states": {k: v for k, v in by_state.items() if v},
        "total_steps": sum(trial_steps(t) for t in trials),
        "best": None,
    }
    best = best_trial(study)
    if best is not None:
        out["best"] = {
            "number": best.number,
            "value": best.value,
            "params": best.params,
            "steps": trial_steps(best),
        }
    return out


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The completed trial with the highest score (lowest number on ties), or None."""
    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    done = [t for t in done if t.value is not None and math.isfinite(t.value)]
    return max(done, key=lambda t: (t.value, -t.number)) if done else None


def trials_table(study: optuna.Study, title: str = "") -> Table:
    """One row per trial: state, score, steps, validation checks, duration, params."""
    trials = study.get_trials(deepcopy=False)
    keys = sorted({k for t in trials for k in t.params})
    best = best_trial(study)
    table = Table(title=title or f"study {study.study_name}", title_justify="left")
    for col in ("#", "state", "val macro-F1", "steps", "checks", "time"):
        table.add_column(col, justify="right" if col not in ("state",) else "left")
    for key in keys:
        table.add_column(_short(key, keys), justify="right")
    table.add_column("note", overflow="fold", max_width=40)
    for t in trials:
        star = " *" if best is not None and t.number == best.number else ""
        value = f"{t.value:.4f}{star}" if t.value is not None else "-"
        took = f"{t.duration.total_seconds():.0f}s" if t.duration is not None else "-"
        table.add_row(
            str(t.number), t.state.name.lower(), value, str(trial_steps(t)),
            str(t.user_attrs.get("val_checks", "-")), took,
            *[_fmt(t.params.get(k)) for k in keys], _note(t)[:200],
        )  # fmt: skip
    return table


def _short(key: str, keys: list[str]) -> str:
    """``train.lr`` -> ``lr`` when no other searched key ends the same way."""
    leaf = key.rsplit(".", 1)[-1]
    return leaf if sum(k.rsplit(".", 1)[-1] == leaf for k in keys) == 1 else key


def _note(t: FrozenTrial) -> str:
    if t.state == TrialState.PRUNED:
        return f"cut at check {t.user_attrs.get('pruned_at_check', len(t.intermediate_values))}"
    if t.state == TrialState.FAIL:
        # no reason recorded: its worker stopped (killed, preempted) and the heartbeat ran out
        return t.user_attrs.get("fail_reason", "worker died (no heartbeat)")
    return ""


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def write_trials_csv(study: optuna.Study, path: Path) -> Path:
    frame = study.trials_dataframe(attrs=("number", "state", "value", "duration", "params",
                                          "user_attrs"))  # fmt: skip
    return files.write_with(path, lambda tmp: frame.to_csv(tmp, index=False))


AXIS_LABELS = {  # what the generic Optuna axes mean here
    "optimization_history": ("trial", "best validation macro-F1 of the trial"),
    "intermediate_values": ("validation check", "best validation macro-F1 so far"),
}


def write_plots(study: optuna.Study, folder: Path) -> tuple[list[Path], dict[str, str]]:
    """optimization_history, intermediate_values, param_importances, parallel_coordinate PNGs.

    Returns (written files, {plot: why skipped}); a plot the study cannot support yet (e.g.
    importances with fewer than 2 completed trials) is skipped with its reason.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    params = {k for t in complete for k in t.params}
    plots = {
        "optimization_history": (ovm.plot_optimization_history, 1, "no completed trial"),
        "intermediate_values": (ovm.plot_intermediate_values, 1, "no completed trial"),
        "param_importances": (ovm.plot_param_importances, 2, "needs >= 2 completed trials"),
        "parallel_coordinate": (ovm.plot_parallel_coordinate, 1, "no completed trial"),
    }
    written, skipped = [], {}
    folder.mkdir(parents=True, exist_ok=True)
    for name, (plot, need, why) in plots.items():
        if len(complete) < need:
            skipped[name] = why
            continue
        if name in ("param_importances", "parallel_coordinate") and not params:
            skipped[name] = "the search space is empty"
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                ax = plot(study)
            first = ax.flat[0] if hasattr(ax, "flat") else ax
            if name in AXIS_LABELS:
                first.set_xlabel(AXIS_LABELS[name][0])
                first.set_ylabel(AXIS_LABELS[name][1])
            fig = first.get_figure()
            fig.set_size_inches(9, 5.5)
            fig.tight_layout()
            path = folder / f"{name}.png"
            fig.savefig(path, dpi=110)
            plt.close(fig)
            written.append(path)
        except Exception as e:  # noqa: BLE001 - e.g. importances with no variance in a param
            skipped[name] = f"{type(e).__name__}: {e}"
            plt.close("all")
    for name, why in skipped.items():
        log.info("plot %s skipped: %s", name, why)
    return written, skipped

