"""``mlops-dl search``: Optuna hyperparameter search over ``train.fit``."""

from __future__ import annotations

import contextlib
import json
import sys
from typing import Annotated, Optional

import typer

from mlops_dl.cli.common import ConfigOpt, JsonOpt, SetOpt, load_config, make_console
from mlops_dl.errors import MlopsError

console = make_console()


def search(
    config: ConfigOpt,
    trials: Annotated[Optional[int], typer.Option("--trials", "-n", help="Finished trials the study should hold, over all workers (default search.n_trials).")] = None,
    timeout: Annotated[Optional[float], typer.Option("--timeout", help="Seconds after which no new trial starts (default search.timeout_s).")] = None,
    storage: Annotated[Optional[str], typer.Option("--storage", help="Optuna RDB URL, e.g. postgresql://user@host/db (default: SQLite in the study folder).")] = None,
    study: Annotated[Optional[str], typer.Option("--study", help="Study name; an existing study is resumed (default search.study_name).")] = None,
    workers: Annotated[Optional[int], typer.Option("--workers", "-k", help="Worker processes on this machine, one per GPU when there are GPUs (default search.workers).")] = None,
    executor: Annotated[str, typer.Option("--executor", help="local: worker processes here; ray: one Ray task per worker.")] = "local",
    address: Annotated[str, typer.Option("--address", help="--executor ray: local, auto or ray://host:10001.")] = "local",
    cpus_per_worker: Annotated[float, typer.Option("--cpus-per-worker", help="--executor ray: CPUs each worker (trial) holds.")] = 1.0,
    gpus_per_worker: Annotated[float, typer.Option("--gpus-per-worker", help="--executor ray: GPUs each worker (trial) holds.")] = 0.0,
    worker_only: Annotated[bool, typer.Option("--worker-only", help="Only run trials, no winner (for workers joining a shared study; run once more without it to finish).")] = False,
    overrides: SetOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Search the config's search.space; a killed search resumes from its storage."""
    from mlops_dl.search import finish, optimize, search_config
    from mlops_dl.search.report import trials_table
    from mlops_dl.search.workers import show_progress_log

    show_progress_log()
    if executor not in ("local", "ray"):
        raise MlopsError(f"--executor {executor!r}: choose local or ray")
    plan = None
    if executor == "ray":
        from mlops_dl.train.ray_train import RayPlan, require_ray_train

        require_ray_train()
        plan = RayPlan(address, workers or 1, cpus_per_worker, gpus_per_worker)
    cfg = search_config(
        load_config(config, overrides),
        n_trials=trials, timeout_s=timeout, storage=storage, study_name=study, workers=workers,
    )  # fmt: skip
    # --json: stdout carries the summary only; training progress lines go to stderr
    with contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext():
        run = optimize(cfg, plan)
        if not as_json:
            console.print(trials_table(run.study))
            _print_report(run)
        if not worker_only:
            if not as_json:
                console.print("[bold]finishing:[/] best config, winner run (retrained unless "
                              "done), test evaluation")  # fmt: skip
            run = finish(run)
    if as_json:
        typer.echo(json.dumps(json.loads((run.folder / "summary.json").read_text()), indent=2))
    elif run.winner:
        w = run.winner
        console.print(
            f"winner: trial {w['trial']} (val macro-F1 {w['trial_val_macro_f1']:.4f}) -> "
            f"run {w['run_dir']}: test macro-F1 (PyTorch) {w['test'].get('macro_f1', float('nan')):.4f}"
        )
        console.print(f"best config: {run.best_config}")
        console.print(f"next: mlops-dl export {w['run_dir']}")


def _print_report(run) -> None:
    s = run.summary
    states = ", ".join(f"{n} {k}" for k, n in s["states"].items())
    console.print(f"study {run.study.study_name} at {run.storage}: {states}; "
                  f"{s['total_steps']} training steps in all; this run: {run.trials_run} trials")  # fmt: skip
    for path in run.plots:
        console.print(f"  plot: {path}")
    for name, why in run.skipped_plots.items():
        console.print(f"  plot {name} skipped: {why}")


def register(app: typer.Typer) -> None:
    app.command("search")(search)
