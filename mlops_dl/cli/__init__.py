"""The ``mlops-dl`` command: thin commands over the modules, one file per lifecycle stage.

Each ``mlops_dl.cli.<stage>`` module exposes ``register(app)``; heavy libraries (torch,
lightning, transformers) are imported inside the command functions, so ``serve`` and
``registry`` start without them.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from mlops_dl.cli.common import make_console
from mlops_dl.errors import MlopsError

app = typer.Typer(
    name="mlops-dl",
    help="The MLOps cycle for transformer text classifiers: data, train, search, export, "
    "registry, serve, monitor.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err_console = make_console(stderr=True)

# Stage modules in lifecycle order; each adds its commands to `app`.
STAGES = ("data", "train", "runs", "search", "export", "registry", "serve", "bench", "gates",
          "monitor", "label", "report", "pipeline", "launch", "ui")


def _register_all() -> None:
    for stage in STAGES:
        try:
            module = importlib.import_module(f"mlops_dl.cli.{stage}")
        except ModuleNotFoundError as e:
            if e.name == f"mlops_dl.cli.{stage}":
                continue  # that stage has no commands in this build
            raise
        module.register(app)


@app.callback()
def _root(cache_dir: Annotated[Optional[Path], typer.Option(
        "--cache-dir", envvar="MLOPS_DL_CACHE_DIR",
        help="Reader cache of s3:// registries (default: ~/.cache/mlops-dl/registry).")] = None) -> None:
    """mlops-dl: data -> train -> search -> export -> registry -> serve -> monitor."""
    if cache_dir is not None:  # read by mlops_dl.registry.cache in this process and its workers
        os.environ["MLOPS_DL_CACHE_DIR"] = str(cache_dir)


@app.command()
def version() -> None:
    """Print the mlops-dl version."""
    from mlops_dl import __version__

    typer.echo(__version__)


_register_all()

METAVARS = {"int": "N", "float": "NUMBER", "str": "TEXT", "Path": "PATH"}


def _without_tag(get_help_option):
    def get(ctx):
        option = get_help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option
    return get


def click_command():
    """The click command tree of ``app``, with plain metavars in ``--help``: a flag shows no
    type tag, a value option its kind (``N``, ``NUMBER``, ``TEXT``, ``PATH``)."""
    command = typer.main.get_command(app)
    stack = [command]
    while stack:
        cmd = stack.pop()
        stack.extend(getattr(cmd, "commands", {}).values())
        cmd.get_help_option = _without_tag(cmd.get_help_option)
        for param in cmd.params:
            if not isinstance(param, typer.core.TyperOption) or param.metavar is not None:
                continue
            annotation = param.type_descriptor.annotation
            inner = getattr(annotation, "__args__", (annotation,))[0]
            name = getattr(inner, "__name__", str(inner))
            param.metavar = "" if param.is_flag else METAVARS.get(name, name.upper())
    return command


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app; user errors print one paragraph and exit non-zero."""
    try:
        click_command().main(args=argv, prog_name="mlops-dl")  # usage errors print, exit 2
    except MlopsError as e:
        # one line (logs and grep), the message printed as is (no rich markup in paths/keys)
        err_console.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
        return e.exit_code
    except KeyboardInterrupt:
        err_console.print("[bold red]interrupted[/]")
        return 130
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return 0


def run() -> None:
    sys.exit(main())
