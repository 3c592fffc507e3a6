"""`mlops-dl ui`: the web UI over the registry, the prediction log, runs and studies."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from mlops_dl.cli.common import CanvasOpt, LogOpt, RegistryOpt, make_console
from mlops_dl.errors import MlopsError

console = make_console()


def register(app: typer.Typer) -> None:
    app.command("ui")(ui)


def ui(registry: RegistryOpt = None, log: LogOpt = None,
       host: Annotated[str, typer.Option("--host", help="Bind address (loopback by default).")] = "127.0.0.1",
       port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8080,
       token: Annotated[Optional[str], typer.Option(
           "--token", envvar="MLOPS_DL_UI_TOKEN",
           help="Allow rollback and labelling to whoever sends this token (default: read-only).")] = None,
       canvas: CanvasOpt = None,
       annotations: Annotated[Path, typer.Option(
           "--annotations", help="CSV the label buttons write (input of `mlops-dl label import`).")] = Path("annotations.csv"),
       runs_dir: Annotated[Path, typer.Option("--runs-dir", help="Run dirs to list.")] = Path("runs"),
       studies_dir: Annotated[Path, typer.Option("--studies-dir", help="Search study folders.")] = Path("studies"),
       dashboard_url: Annotated[Optional[str], typer.Option(
           "--dashboard-url", help="A running optuna-dashboard to link from study pages.")] = None,
       insecure: Annotated[bool, typer.Option(
           "--insecure", help="Allow a non-loopback --host without --token (the UI shows "
           "logged texts to whoever reaches it).")] = False) -> None:
    """Browse and compare versions, roll back, watch drift, label: a local web UI."""
    if not 1 <= port <= 65535:
        raise MlopsError(f"--port {port}: expected 1-65535")
    if token is not None and len(token) < 8:
        raise MlopsError("--token: use at least 8 characters")
    from mlops_dl.config import ServeConfig
    from mlops_dl.serve import server
    from mlops_dl.ui import UISettings, create_app

    warning = server.exposure_warning(
        host, port, token is not None, insecure, what="--host", token_name="--token",
        exposed="read the registry, the prediction logs and their texts",
        fix="Give --token T (or $MLOPS_DL_UI_TOKEN), or pass --insecure to show it read-only "
            "without one", served="read the registry and the logged texts")
    settings = UISettings(registry=registry, logs=list(log or []), token=token, canvas=canvas,
                          annotations=annotations, runs_dir=runs_dir, studies_dir=studies_dir,
                          dashboard_url=dashboard_url)
    app = create_app(settings)
    if warning:
        console.print(f"[yellow]{warning}[/]", highlight=False)
    mode = "rollback and labelling need the token" if token else "read-only"
    console.print(f"mlops-dl ui on http://{host}:{port}/ ({mode}; registry {app.state.ui.registry.root})")
    server.serve_forever(server_config(app, ServeConfig(host=host, port=port)))


def server_config(app, bounds):
    """uvicorn settings for the UI: serve's bounded server (head timeout, head size, keep-alive;
    ``bounds`` a ServeConfig with the host and port)."""
    from mlops_dl.serve import server

    return server.uvicorn_config(bounds, server.limit_head(app, bounds.max_header_bytes))
