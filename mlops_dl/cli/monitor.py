"""`mlops-dl canvas show | accept | promote | monitor [replay]`, plus `label` and `report`.

Thin commands over mlops_dl.gates.canvas, accept, promote and monitor (label and report commands live
in cli/label.py and cli/report.py and are registered from here). None of them imports torch:
inference goes through the ONNX Predictor.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from mlops_dl.cli import label as label_cli
from mlops_dl.cli import report as report_cli
from mlops_dl.cli.common import JsonOpt
from mlops_dl.cli.monitor_options import (DEFAULT_CANVAS, CanvasOpt, DataOpt, LogOpt, SinceOpt,
                                          UntilOpt, load_canvas_file, echo_json, open_registry, console)
from mlops_dl.cli.registry import RegistryOpt
from mlops_dl.errors import MlopsError

canvas_app = typer.Typer(help="The ML canvas: the problem, its gates and policies.", no_args_is_help=True)
monitor_app = typer.Typer(help="Drift, confidence and traffic of the prediction log; replay.",
                          invoke_without_command=True)


def register(app: typer.Typer) -> None:
    app.add_typer(canvas_app, name="canvas")
    app.command("accept")(accept)
    app.command("promote")(promote)
    app.add_typer(monitor_app, name="monitor")
    label_cli.register(app)
    report_cli.register(app)


def _default_ref(canvas) -> str:
    from mlops_dl.gates.canvas import model_name

    return f"{model_name(canvas)}@{canvas.promotion.alias}"


@canvas_app.command("show")
def canvas_show(canvas: CanvasOpt = DEFAULT_CANVAS, as_json: JsonOpt = False) -> None:
    """Print the canvas (validated; its data config is checked against its labels)."""
    import dataclasses

    from mlops_dl.gates.canvas import show

    c = load_canvas_file(canvas)
    if as_json:
        echo_json({**dataclasses.asdict(c), "source": c.source, "sha256": c.sha256})
        return
    show(c, console)


def accept(ref: Annotated[str, typer.Argument(help="Version: name, name:N or name@alias.")],
           canvas: CanvasOpt = DEFAULT_CANVAS, registry: RegistryOpt = None,
           data: DataOpt = None, as_json: JsonOpt = False) -> None:
    """Acceptance test on the frozen test split vs the canvas; stored as acceptance.json."""
    from mlops_dl.gates.accept import accept as run_accept
    from mlops_dl.gates.accept import summary_rows

    result = run_accept(open_registry(registry), ref, load_canvas_file(canvas), data)
    if as_json:
        echo_json({k: v for k, v in result.items() if k != "test_predictions"})
    else:
        table = Table(title=f"acceptance of {result['ref']} ({result['variant']}, "
                            f"{result['n_test']} test texts)")
        for col in ("check", "value", "threshold", "result"):
            table.add_column(col)
        for name, value, threshold, ok in summary_rows(result):
            verdict = "[dim]-[/]" if ok is None else "[green]pass[/]" if ok else "[red]FAIL[/]"
            table.add_row(name, value, threshold, verdict)
        console.print(table)
        for c in result["checks"]:
            if c["name"].startswith("latency"):
                console.print(f"[dim]latency source: {c['source']}[/]")
        for c in result["behaviour"]["checks"]:
            if c["failures"]:
                f = c["failures"][0]
                got = (f"{f['label_a']} -> {f['label_b']}" if "label_a" in f
                       else f"P({c.get('positive_label')}) {f['p_a']:.3f} -> {f['p_b']:.3f}")
                console.print(f"[dim]{c['name']} e.g. {f['a']!r} vs {f['b']!r}: {got}[/]", highlight=False)
        console.print(("[bold green]ACCEPTED[/]" if result["passed"] else "[bold red]REJECTED[/]")
                      + f" - stored as {result['ref']} attachment acceptance.json")
    if not result["passed"]:
        raise typer.Exit(4)


def promote(ref: Annotated[str, typer.Argument(help="Version to promote, e.g. sentiment:3.")],
            to: Annotated[Optional[str], typer.Option("--to", help="Alias (default: canvas promotion.alias).")] = None,
            force: Annotated[bool, typer.Option("--force", help="Override a refusal (needs --reason).")] = False,
            reason: Annotated[str, typer.Option("--reason", help="Why a forced promotion is right.")] = "",
            canvas: CanvasOpt = DEFAULT_CANVAS, registry: RegistryOpt = None,
            data: DataOpt = None, as_json: JsonOpt = False) -> None:
    """Move an alias to REF if it passed acceptance and is not worse than the champion."""
    from mlops_dl.gates.promote import promote as run_promote

    d = run_promote(open_registry(registry), ref, load_canvas_file(canvas), to, force, reason, data)
    if as_json:
        echo_json(d)
        return
    if d["decision"] == "unchanged":
        console.print(f"{d['ref']} is already @{d['alias']}; nothing changed")
        return
    comp = d.get("comparison")
    if comp:
        t = comp["mcnemar"]
        console.print(f"vs champion {comp['champion']}: macro-F1 {comp['challenger_macro_f1']:.4f} vs "
                      f"{comp['champion_macro_f1']:.4f} ({comp['delta_macro_f1']:+.4f}), McNemar p = "
                      f"{t['p_value']:.3g} on {comp['n_test']} test texts")
    else:
        console.print("no current champion: first promotion")
    if d["decision"] == "forced":
        console.print(f"[yellow]FORCED[/] despite: {' | '.join(d['problems'])}\nreason: {d['reason']}")
    console.print(f"[bold green]{d['ref']} is now @{d['alias']}[/] (decision recorded in "
                  f"promotion.json and promotions.jsonl)")


@monitor_app.callback()
def monitor(ctx: typer.Context, log: LogOpt = None,
            ref: Annotated[Optional[str], typer.Option("--ref", help="Reference version (default: canvas model@alias).")] = None,
            canvas: CanvasOpt = DEFAULT_CANVAS, since: SinceOpt = None, until: UntilOpt = None,
            html: Annotated[Optional[Path], typer.Option("--html", help="Also write an HTML report.")] = None,
            registry: RegistryOpt = None, data: DataOpt = None, as_json: JsonOpt = False) -> None:
    """Drift of the logged window vs the reference; exit 3 when an alarm fires."""
    if ctx.invoked_subcommand is not None:
        return
    if not log:
        raise MlopsError("monitor needs --log PATH (the serve prediction log, e.g. logs/predictions.jsonl)")
    from mlops_dl.monitor import ALARM_EXIT, monitor_log

    c = load_canvas_file(canvas)
    report = monitor_log(log, ref or _default_ref(c), c, open_registry(registry), since, until, data)
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
