"""Options and helpers shared by the CLI stage modules."""

from __future__ import annotations

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


def load_config(path: Path, overrides: Optional[list[str]]) -> config_mod.Config:
    return config_mod.load(path, overrides or ())


def make_console(stderr: bool = False) -> Console:
    """A rich console; piped to a file or log, PIPED_WIDTH columns (or $COLUMNS) instead of 80."""
    console = Console(stderr=stderr)
    if console.is_terminal or "COLUMNS" in os.environ:
        return console
    return Console(stderr=stderr, width=PIPED_WIDTH)
