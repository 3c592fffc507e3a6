"""`mlops-dl report data | run | compare`: self-contained HTML reports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlops_dl.cli.common import RegistryOpt, make_console, open_registry

console = make_console()

report_app = typer.Typer(help="Self-contained HTML reports (plots embedded).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")


def _write_report(out: Path, document: str) -> None:
    from mlops_dl.reports import write

    write(out, document)
    console.print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB, self-contained)")


OutOpt = Annotated[Path, typer.Option("--out", help="HTML file to write.")]


@report_app.command("data")
def report_data(prepared_dir: Annotated[Path, typer.Argument(help="Prepared dataset dir.")],
                out: OutOpt = Path("data-card.html")) -> None:
    """Data card report of a prepared dataset."""
    from mlops_dl.reports.data import data_report

    _write_report(out, data_report(prepared_dir))


@report_app.command("run")
def report_run(run_dir: Annotated[Path, typer.Argument(help="Run dir (runs/<id>).")],
               out: OutOpt = Path("run.html")) -> None:
    """Run report: metrics, confusion matrices, learning curves, config."""
    from mlops_dl.reports.run import run_report

    _write_report(out, run_report(run_dir))


@report_app.command("compare")
def report_compare(a: Annotated[str, typer.Argument(help="Version A.")],
                   b: Annotated[str, typer.Argument(help="Version B.")],
                   out: OutOpt = Path("compare.html"), registry: RegistryOpt = None) -> None:
    """Registry comparison report of two versions."""
    from mlops_dl.reports.compare import compare_report

    _write_report(out, compare_report(open_registry(registry), a, b))
