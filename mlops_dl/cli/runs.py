"""``mlops-dl runs list | compare``: the training runs as a table, and runs side by side.

Thin commands over mlops_dl.train.catalog (the run records) and mlops_dl.ui.runs (which
registered versions came from which run). Torch-free.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from mlops_dl.cli.common import JsonOpt, RegistryOpt, echo_json, make_console, open_registry

console = make_console()
runs_app = typer.Typer(help="Training runs: a sortable, filterable table; compare runs.",
                       no_args_is_help=True)
RunsDirOpt = Annotated[Path, typer.Option("--runs-dir", help="Folder of run dirs (train.runs_dir).")]


def register(app: typer.Typer) -> None:
    app.add_typer(runs_app, name="runs")


def _f1(value, n) -> str:
    return "–" if value is None else f"{value:.4f} (n={n})"


@runs_app.command("list")
def list_runs(
    runs_dir: RunsDirOpt = Path("runs"),
    sort: Annotated[str, typer.Option("--sort", help="id, created, config, status, val_macro_f1 or test_macro_f1.")] = "created",
    ascending: Annotated[bool, typer.Option("--asc", help="Ascending (default: descending).")] = False,
    filter_: Annotated[str, typer.Option("--filter", help="Keep runs whose id, config, params or versions contain this.")] = "",
    status: Annotated[str, typer.Option("--status", help="finished, resumable or incomplete.")] = "",
    registry: RegistryOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The runs of --runs-dir: date, config, data, key params, val/test macro-F1, versions."""
    from mlops_dl.errors import MlopsError
    from mlops_dl.train import catalog
    from mlops_dl.ui.runs import registered_runs

    if not runs_dir.is_dir():
        raise MlopsError(f"--runs-dir {runs_dir}: no such folder (train.runs_dir of your config)")
    registered = registered_runs(open_registry(registry))
    rows = catalog.list_runs(catalog.run_dirs(runs_dir), registered, sort, not ascending,
                             filter_, status)
    if as_json:
        return echo_json(rows)
    table = Table(title=f"runs in {runs_dir} ({len(rows)}, by {sort})")
    for col in ("run", "date (UTC)", "config", "data", "key params", "best val macro-F1",
                "test macro-F1", "registered", "status"):
        table.add_column(col, overflow="fold")
    for r in rows:
        params = " ".join(f"{k.split('.')[-1]}={v}" for k, v in r["params"].items())
        table.add_row(r["id"], r["created"].replace("T", " ").replace("+00:00", ""), r["config"],
                      r["data_fingerprint"], params, _f1(r["val_macro_f1"], r["val_n"]),
                      _f1(r["test_macro_f1"], r["test_n"]), ", ".join(r["registered"]), r["status"])
    console.print(table if rows else f"no runs in {runs_dir}" + (" match" if filter_ or status else ""))


@runs_app.command("compare")
def compare_runs(
    runs: Annotated[list[str], typer.Argument(help="Two or more run ids (folders of --runs-dir).")],
    runs_dir: RunsDirOpt = Path("runs"),
    as_json: JsonOpt = False,
) -> None:
    """Params that differ and metrics side by side (curves: the UI's /runs/compare)."""
    from mlops_dl.train import catalog

    result = catalog.compare(catalog.run_dirs(runs_dir), list(runs))
    if as_json:
        return echo_json({k: v for k, v in result.items() if k != "curves"})
    metrics = Table(title="metrics")
    params = Table(title=f"params that differ ({result['same']} others are the same)")
    for table, first in ((metrics, ("split", "metric")), (params, ("key",))):
        for col in (*first, *result["ids"]):
            table.add_column(col, overflow="fold")
    for m in result["metrics"]:
        metrics.add_row(m["split"], m["metric"], *(_cell(v) for v in m["values"]))
    for r in result["differ"]:
        params.add_row(r["key"], *(_cell(v) for v in r["values"]))
    console.print(metrics)
    console.print(params)


def _cell(value: Optional[object]) -> str:
    if value is None:
        return "–"
    return f"{value:.4f}" if isinstance(value, float) else str(value)
