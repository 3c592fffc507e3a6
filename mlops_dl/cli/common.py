"""Options and helpers shared by the CLI stage modules: config, registry, canvas, log window."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from mlops_dl import config as config_mod

PIPED_WIDTH = 160  # rich's 80 columns squeeze the trial, bench and evaluation tables in logs

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="YAML config file (see configs/).")]
SetOpt = Annotated[
    Optional[list[str]],
    typer.Option("--set", help="Override a config key, e.g. --set train.lr=3e-5 (repeatable)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
RegistryOpt = Annotated[
    Optional[str],  # not Path: s3://bucket/prefix would lose a slash
    typer.Option("--registry", "-r", envvar="MLOPS_DL_REGISTRY",
                 help="Registry root: a folder or s3://bucket/prefix (default: $MLOPS_DL_REGISTRY, "
                      "then the project's mlops-dl.yaml / pyproject.toml, then ./registry)."),
]
RefArg = Annotated[str, typer.Argument(help="Model reference: name, name:3 or name@production.")]

# the canvas-driven commands (gates, monitor, label, report)
CanvasOpt = Annotated[Optional[Path], typer.Option(
    "--canvas", help="ML canvas file (default: the version's config's pipeline.canvas, else "
                     "`canvas:` in mlops-dl.yaml).")]
DataOpt = Annotated[Optional[Path], typer.Option(
    "--data", help="Prepared dataset dir (default: the version's lineage.json data_dir).")]
LogOpt = Annotated[Optional[list[str]], typer.Option(
    "--log", help="Prediction log (rotations path.1..N are read too; globs allowed; repeatable).")]
SinceOpt = Annotated[Optional[str], typer.Option("--since", help="Window start, ISO-8601 (UTC if no zone).")]
UntilOpt = Annotated[Optional[str], typer.Option("--until", help="Window end (exclusive), ISO-8601.")]


def load_config(path: Path, overrides: Optional[list[str]]) -> config_mod.Config:
    return config_mod.load(path, overrides or ())


def open_registry(root: Optional[str]):
    """The Registry at ``--registry`` (None: $MLOPS_DL_REGISTRY, the project default, ./registry).

    A ``--registry`` folder that does not exist is an error (a typo must not read as "no
    models"); export and `registry copy` create theirs."""
    from mlops_dl.errors import RegistryError
    from mlops_dl.registry import open_registry as open_root

    if root and "://" not in root and not Path(root).expanduser().is_dir():
        raise RegistryError(f"--registry {root}: no such folder (check the path; `mlops-dl "
                            f"export` or `registry copy` creates a registry)")
    return open_root(root)


def load_canvas_file(path: Optional[Path], mv=None):
    """The canvas by the one rule: --canvas, else ``mv``'s config's, else the project default."""
    from mlops_dl.gates.canvas import find_canvas, load_canvas

    return load_canvas(find_canvas(path, mv))


def echo_json(data) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def make_console(stderr: bool = False) -> Console:
    """A rich console; piped to a file or log, PIPED_WIDTH columns (or $COLUMNS) instead of 80."""
    console = Console(stderr=stderr)
    if console.is_terminal or "COLUMNS" in os.environ:
        return console
    return Console(stderr=stderr, width=PIPED_WIDTH)


def canvas_latency_budget(mv, console) -> float | None:
    """The canvas's batch-1 p95 budget (the one canvas rule) for ``auto``'s serving choice;
    None, said in one dim line, when no canvas is found (auto then ranks on the tail only)."""
    from mlops_dl.errors import ConfigError
    from mlops_dl.gates.canvas import find_canvas, load_canvas

    try:
        budget = load_canvas(find_canvas(mv=mv)).latency.p95_ms
    except ConfigError as e:
        console.print(f"[dim]auto: no latency budget ({str(e)[:160]})[/]", highlight=False)
        return None
    console.print(f"[dim]auto: serving within the canvas's {budget:g} ms batch-1 p95 budget[/]",
                  highlight=False)
    return budget
