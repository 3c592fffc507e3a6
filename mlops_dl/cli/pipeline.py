"""``mlops-dl pipeline``: the whole cycle from one config, each step skipped when unchanged."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer
from rich.table import Table

from mlops_dl.cli.common import ConfigOpt, JsonOpt, SetOpt, load_config, make_console

console = make_console()
STYLE = {"ran": "green", "skipped": "cyan", "refused": "yellow", "off": "dim"}


def pipeline(
    config: ConfigOpt,
    set_: SetOpt = None,
    registry: Annotated[Optional[str], typer.Option("--registry", help="Registry root.")] = None,
    force: Annotated[Optional[list[str]], typer.Option(
        "--force", help="Rerun this step even when its inputs are unchanged (repeatable).")] = None,
    json_: JsonOpt = False,
) -> None:
    """data prepare -> train|search -> evaluate -> export -> bench -> accept -> promote."""
    from mlops_dl.pipeline import run_pipeline

    cfg = load_config(config, set_)
    say = (lambda msg: None) if json_ else console.print
    run = run_pipeline(cfg, config, registry=registry, force=tuple(force or ()), say=say)
    if json_:
        typer.echo(json.dumps({"ref": run.ref, "run_dir": str(run.run_dir),
                               "steps": [vars(s) for s in run.steps]}))
        return
    table = Table(title=f"pipeline {config}")
    for col in ("step", "status", "seconds", "detail"):
        table.add_column(col, justify="right" if col == "seconds" else "left")
    for s in run.steps:
        table.add_row(s.name, f"[{STYLE[s.status]}]{s.status}[/]", f"{s.seconds:.1f}", s.detail)
    table.add_row("total", "", f"{sum(s.seconds for s in run.steps):.1f}", run.ref or "")
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("pipeline")(pipeline)
