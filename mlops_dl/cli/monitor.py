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
from mlops_dl.runtime.variants import ENGINES, VARIANTS

console = make_console()
err_console = make_console(stderr=True)  # progress lines, kept out of --json output
monitor_app = typer.Typer(help="Drift, confidence and traffic of the prediction log; replay.",
                          invoke_without_command=True)


def register(app: typer.Typer) -> None:
    app.add_typer(monitor_app, name="monitor")
    app.command("bench-monitor")(bench_monitor)


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
    _print_performance(report)
    for note in report["notes"]:
        console.print(f"[dim]note: {note}[/]")
    color = {"ok": "green", "warn": "yellow", "alarm": "red"}.get(report["status"], "yellow")
    console.print(f"[bold {color}]{report['status'].upper()}[/] " + "; ".join(report["alarms"] or report["warnings"]))
    if html:
        console.print(f"HTML report: {html}")


def _print_performance(report: dict) -> None:
    perf, seq = report.get("performance"), report.get("sequential")
    if not perf or perf["estimated"]["macro_f1"] is None:
        return
    est = perf["estimated"]
    lo, hi = est["interval"]
    test = (perf.get("test") or {}).get("macro_f1")
    console.print(f"estimated macro-F1 (no labels) {est['macro_f1']:.3f} [{lo:.3f}, {hi:.3f}]; "
                  f"canvas threshold {perf['threshold']}; test split "
                  + ("-" if test is None else f"{test:.3f}"))
    if perf.get("realised"):
        console.print(f"measured on {perf['realised']['n']} feedback labels "
                      f"{perf['realised']['macro_f1']:.3f} (estimated on them "
                      f"{perf['estimated_on_labelled']['macro_f1']:.3f})")
    if seq:
        fired = (f"{seq['alarm']} fired after {seq['alarm_at'] + 1} predictions" if seq["alarm"]
                 else "none fired")
        console.print(f"sequential tests (false-alarm rate {seq['false_alarm_rate']}): {fired}")


@monitor_app.command("replay")
def monitor_replay(log: LogOpt = None,
                   challenger: Annotated[str, typer.Option("--challenger", help="Candidate version.")] = "",
                   since: SinceOpt = None, until: UntilOpt = None,
                   limit: Annotated[int, typer.Option("--limit", help="Latest N logged texts replayed.")] = 10_000,
                   variant: Annotated[str, typer.Option("--variant", help=f"{', '.join(VARIANTS)}.")] = "int8",
                   engine: Annotated[str, typer.Option("--engine", help=f"{', '.join(ENGINES)}.")] = "onnxruntime",
                   registry: RegistryOpt = None, as_json: JsonOpt = False) -> None:
    """Run a challenger over logged texts: disagreement with the served labels, per class."""
    if not log or not challenger:
        raise MlopsError("monitor replay needs --log PATH and --challenger REF")
    from mlops_dl.monitor import replay_log

    r = replay_log(log, challenger, open_registry(registry), since, until, variant, limit, engine)
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


def bench_monitor(ref: Annotated[str, typer.Argument(help="Version to bench, e.g. sentiment:3 or sentiment@production.")],
                  canvas: CanvasOpt = None, registry: RegistryOpt = None, data: DataOpt = None,
                  seeds: Annotated[int, typer.Option("--seeds", min=1, help="Streams per shift.")] = 20,
                  null_seeds: Annotated[int, typer.Option("--null-seeds", min=1, help="Unshifted streams (false alarms).")] = 100,
                  length: Annotated[int, typer.Option("--length", min=2, help="Predictions per stream.")] = 2000,
                  shift_at: Annotated[int, typer.Option("--shift-at", min=1, help="Position where the shift starts.")] = 500,
                  chunk: Annotated[int, typer.Option("--chunk", min=10, help="Predictions per estimate chunk.")] = 250,
                  labelled: Annotated[float, typer.Option("--labelled", min=0.0, max=1.0, help="Share of predictions labelled (ours + labels).")] = 0.1,
                  streams: Annotated[Optional[Path], typer.Option("--streams", help="Write the streams as CSV here (for other tools).")] = None,
                  as_json: JsonOpt = False) -> None:
    """Shift bench: detection delay, false alarms and F1-estimate error on injected shifts."""
    from mlops_dl.monitor.bench import bench_monitor as run_bench
    from mlops_dl.monitor.bench import markdown_table

    if shift_at >= length:
        raise MlopsError(f"--shift-at {shift_at} must be below --length {length}")
    if chunk > length - shift_at:
        raise MlopsError(f"--chunk {chunk} is longer than the shifted part ({length - shift_at})")
    reg = open_registry(registry)
    result = run_bench(ref, load_canvas_file(canvas, reg.get(ref)), reg, data, seeds,
                       null_seeds, length, shift_at, chunk, labelled, streams,
                       log=lambda m: err_console.print(f"[dim]{m}[/]"))
    if as_json:
        echo_json(result)
        return
    console.print(f"{result['ref']} ({result['variant']}, {result['test_texts']} test texts); "
                  f"streams of {length}, shift at {shift_at}; false-alarm rate "
                  f"{result['false_alarm_rate']}, tolerance {result['tolerance']}")
    console.print(markdown_table(result["table"]), markup=False)
    for note in result["notes"]:
        console.print(f"[dim]note: {note}[/]")
