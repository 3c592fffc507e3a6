"""Options and helpers shared by the CLI stage modules."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from mlops_dl import config as config_mod

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="YAML config file (see configs/).")]
SetOpt = Annotated[
    Optional[list[str]],
    typer.Option("--set", help="Override a config key, e.g. --set train.lr=3e-5 (repeatable)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def load_config(path: Path, overrides: Optional[list[str]]) -> config_mod.Config:
    return config_mod.load(path, overrides or ())
