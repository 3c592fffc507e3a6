"""`mlops-dl monitor [replay]`: drift, confidence and traffic of the prediction log.

Thin commands over mlops_dl.monitor; torch-free (replay goes through the ONNX Predictor).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from mlops_dl.cli.common import (CanvasOpt, DataOpt, JsonOpt, LogOpt, RegistryOpt,
                                 SinceOpt, UntilOpt, echo_json, load_canvas_file, make_console,
                                 open_registry)
from mlops_dl.errors import MlopsError

console = make_console()
monitor_app = typer.Typer(help="Drift, confidence and traffic of the prediction log; replay.",
                          invoke_without_command=True)


def register(app: typer.Typer) -> None:
    app.add_typer(monitor_app, name="monitor")


def _default_ref(canvas) -> str:
    from mlops_dl.gates.canvas import model_name

    return f"{model_name(canvas)}@{canvas.promotion.alias}"


@monitor_app.callback()
def monitor(ctx: typer.Context, log: LogOpt = None,
            ref: Annotated[Optional[str], typer.Option("--ref", help="Reference version (default: canvas model@alias).")] = None,
            canvas: CanvasOpt = None, since: SinceOpt = None, until: UntilOpt = None,
            html: Annotated[Optional[Path], typer.Option("--html", help="Also write an HTML report.")] = None,
            registry: RegistryOpt = None, data: DataOpt = None, as_json: JsonOpt = False) -> None:
    """Drift of the logged window vs the reference; exit 3 when an alarm fires."""
    if ctx.invoked_subcommand is not None:
        return
    if not log:
        raise MlopsError("monitor needs --log PATH (the serve prediction log, e.g. logs/predictions.jsonl)")
    from mlops_dl.monitor import ALARM_EXIT, monitor_log

    reg = open_registry(registry)
    c = load_canvas_file(canvas, reg.get(ref, verify=False) if ref and canvas is None else None)
    report = monitor_log(log, ref or _default_ref(c), c, reg, since, until, data)
    if html:
        from mlops_dl.reports import write
        from mlops_dl.reports.monitor import monitor_report

        write(html, monitor_report(report))
    if as_json:
        echo_json(report)
    else:
        _print_monitor(report, html)
    if report["status"] == "alarm":
        raise typer.Exit(ALARM_EXIT)


def _print_monitor(report: dict, html: Optional[Path]) -> None:
    win = report["window"]
    console.print(f"window: {report['n']} predictions from {len(win['files'])} file(s); "
                  f"{win['malformed']} malformed line(s), {win['outside_window']} outside the window; "
                  f"reference {report['ref']}")
    for m in win["malformed_examples"][:5]:
        console.print(f"[dim]  malformed {m['file']}:{m['line']}: {m['reason']}[/]")
    table = Table(title="drift vs reference")
    for col in ("statistic", "PSI", "test", "p-value", "status"):
        table.add_column(col)
    colors = {"ok": "green", "warn": "yellow", "alarm": "red"}
    for c in report["checks"]:
        p = "-" if c["p_value"] is None else f"{c['p_value']:.3g}"
        table.add_row(c["name"], f"{c['psi']:.3f}", c["test"], p, f"[{colors[c['status']]}]{c['status']}[/]")
    console.print(table)
    low, lat = report["low_confidence"], report["latency"]
    if low["share"] is not None:
        ref_share = "-" if low["reference_share"] is None else f"{low['reference_share']:.1%}"
        console.print(f"low confidence (margin < {low['threshold']}): {low['share']:.1%} (reference "
                      f"{ref_share}); latency p50 {lat.get('p50_ms', float('nan')):.1f} ms, "
                      f"p95 {lat.get('p95_ms', float('nan')):.1f} ms over {lat['requests']} requests")
    for note in report["notes"]:
        console.print(f"[dim]note: {note}[/]")
    color = {"ok": "green", "warn": "yellow", "alarm": "red"}.get(report["status"], "yellow")
    console.print(f"[bold {color}]{report['status'].upper()}[/] " + "; ".join(report["alarms"] or report["warnings"]))
    if html:
        console.print(f"HTML report: {html}")


@monitor_app.command("replay")
def monitor_replay(log: LogOpt = None,
                   challenger: Annotated[str, typer.Option("--challenger", help="Candidate version.")] = "",
                   since: SinceOpt = None, until: UntilOpt = None,
                   limit: Annotated[int, typer.Option("--limit", help="Latest N logged texts replayed.")] = 10_000,
                   variant: Annotated[str, typer.Option("--variant", help="int8 or fp32.")] = "int8",
                   registry: RegistryOpt = None, as_json: JsonOpt = False) -> None:
    """Run a challenger over logged texts: disagreement with the served labels, per class."""
    if not log or not challenger:
        raise MlopsError("monitor replay needs --log PATH and --challenger REF")
    from mlops_dl.monitor import replay_log

    r = replay_log(log, challenger, open_registry(registry), since, until, variant, limit)
    if as_json:
        echo_json(r)
        return
    console.print(f"{r['challenger']} ({r['variant']}) on {r['n']} logged texts served by "
                  f"{', '.join(r['served_versions'])}: agreement {r['agreement']:.1%} "
                  f"({r['disagreements']} disagreements)")
    table = Table(title="per served label")
    for col in ("served label", "n", "agreement", "challenger says"):
        table.add_column(col)
    for row in r["per_class"]:
        says = ", ".join(f"{k} {v}" for k, v in row["challenger_labels"].items())
        table.add_row(row["served_label"], str(row["n"]), f"{row['agreement']:.1%}", says)
    console.print(table)
