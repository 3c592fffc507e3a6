"""Options and helpers shared by the canvas-driven commands (monitor, label, report)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from mlops_dl.cli.common import make_console

console = make_console()
CanvasOpt = Annotated[Path, typer.Option("--canvas", help="ML canvas file (thresholds, policies).")]
DataOpt = Annotated[Optional[Path], typer.Option(
    "--data", help="Prepared dataset dir (default: the version's lineage.json data_dir).")]
LogOpt = Annotated[Optional[list[str]], typer.Option(
    "--log", help="Prediction log (rotations path.1..N are read too; globs allowed; repeatable).")]
SinceOpt = Annotated[Optional[str], typer.Option("--since", help="Window start, ISO-8601 (UTC if no zone).")]
UntilOpt = Annotated[Optional[str], typer.Option("--until", help="Window end (exclusive), ISO-8601.")]
DEFAULT_CANVAS = Path("configs/canvas.yaml")


def load_canvas_file(path: Path):
    from mlops_dl.gates.canvas import load_canvas

    return load_canvas(path)


def open_registry(root: Optional[str]):
    from mlops_dl.registry import Registry

    return Registry.open(root)


def echo_json(data) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


