"""`mlops-dl canvas show | accept | promote`: the ML canvas and the gates a version passes.

Thin commands over mlops_dl.gates.canvas, accept and promote; torch-free (inference goes
through the ONNX Predictor).
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.table import Table

from pathlib import Path

from mlops_dl.cli.common import (CanvasOpt, DataOpt, JsonOpt, RegistryOpt,
                                 echo_json, load_canvas_file, make_console, open_registry)

console = make_console()
canvas_app = typer.Typer(help="The ML canvas: the problem, its gates and policies.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(canvas_app, name="canvas")
    app.command("accept")(accept)
    app.command("promote")(promote)


@canvas_app.command("show")
def canvas_show(canvas: CanvasOpt = None, as_json: JsonOpt = False) -> None:
    """Print the canvas (validated; its data config is checked against its labels)."""
    import dataclasses

    c = load_canvas_file(canvas)
    if as_json:
        echo_json({**dataclasses.asdict(c), "source": c.source, "sha256": c.sha256})
        return
    show_canvas(c, console)


def _canvas_for(reg, ref: str, canvas: Optional[Path]):
    """--canvas, else the canvas named by the version's own config, else the project's."""
    return load_canvas_file(canvas, None if canvas is not None else reg.get(ref))


def accept(ref: Annotated[str, typer.Argument(help="Version: name, name:N or name@alias.")],
           canvas: CanvasOpt = None, registry: RegistryOpt = None,
           data: DataOpt = None, as_json: JsonOpt = False,
           engine: Annotated[Optional[str], typer.Option("--engine", help="Only this engine: "
                             "onnxruntime or openvino (default: every servable that runs here).")] = None,
           variant: Annotated[Optional[str], typer.Option("--variant", help="Only this variant "
                              "(with --engine: exactly that servable).")] = None,
           ) -> None:
    """Acceptance test of each servable on the frozen test split vs the canvas (acceptance.json)."""
    from mlops_dl.gates.accept import REJECTED_EXIT
    from mlops_dl.gates.accept import accept as run_accept

    reg = open_registry(registry)
    result = run_accept(reg, ref, _canvas_for(reg, ref, canvas), data, engine=engine,
                        variant=variant)
    if as_json:
        echo_json({**result, "servables": {k: {f: v for f, v in r.items() if f != "test_predictions"}
                                           for k, r in result["servables"].items()}})
    else:
        print_acceptance(result)
    if not result["passed"]:
        raise typer.Exit(REJECTED_EXIT)


def print_acceptance(result: dict) -> None:
    """One table per servable, then the verdict for the servable the canvas serves."""
    from mlops_dl.gates.accept import summary_rows

    for key, row in result["servables"].items():
        table = Table(title=f"{result['ref']} {row['engine']} {row['variant']} ({row['precision']}), "
                            f"{result['n_test']} test texts: "
                            + ("[green]accepted[/]" if row["passed"] else "[red]rejected[/]"))
        for col in ("check", "value", "threshold", "result"):
            table.add_column(col)
        for name, value, threshold, ok in summary_rows(row):
            verdict = "[dim]-[/]" if ok is None else "[green]pass[/]" if ok else "[red]FAIL[/]"
            table.add_row(name, value, threshold, verdict)
        console.print(table)
        for c in row["checks"]:
            if c["name"].startswith("latency"):
                console.print(f"[dim]latency source: {c['source']}[/]")
        for c in row["behaviour"]["checks"]:
            if c["failures"]:
                console.print(f"[dim]{c['name']} e.g. {_failure_example(c)}[/]", highlight=False)
        if not row["batch_invariant"]:
            console.print(f"[yellow]{key}: labels vary with the batch; served only by name[/]")
    for key, why in result["skipped"].items():
        console.print(f"[dim]skipped {key}: {why}[/]", highlight=False)
    accepted = ", ".join(result["accepted"]) or "none"
    console.print(("[bold green]ACCEPTED[/]" if result["passed"] else "[bold red]REJECTED[/]")
                  + f" for the canvas's servable ({result['canvas_servable']}); accepted "
                  f"servables: {accepted} - stored as {result['ref']} attachment acceptance.json")


def _failure_example(c: dict) -> str:
    """The first failing case of a behaviour check, as one line."""
    f = c["failures"][0]
    if "expected" in f:  # label_templates
        return f"{f['text']!r}: expected {f['expected']}, got {f['predicted']}"
    got = (f"{f['label_a']} -> {f['label_b']}" if "label_a" in f
           else f"P({c.get('positive_label')}) {f['p_a']:.3f} -> {f['p_b']:.3f}")
    return f"{f['a']!r} vs {f['b']!r}: {got}"


def promote(ref: Annotated[str, typer.Argument(help="Version to promote, e.g. sentiment:3.")],
            to: Annotated[Optional[str], typer.Option("--to", help="Alias (default: canvas promotion.alias).")] = None,
            force: Annotated[bool, typer.Option("--force", help="Override a refusal (needs --reason).")] = False,
            reason: Annotated[str, typer.Option("--reason", help="Why a forced promotion is right.")] = "",
            canvas: CanvasOpt = None, registry: RegistryOpt = None,
            data: DataOpt = None, as_json: JsonOpt = False) -> None:
    """Move an alias to REF if it passed acceptance and is not worse than the champion."""
    from mlops_dl.gates.promote import f1_versus
    from mlops_dl.gates.promote import promote as run_promote

    reg = open_registry(registry)
    d = run_promote(reg, ref, _canvas_for(reg, ref, canvas), to, force, reason, data)
    if as_json:
        echo_json(d)
        return
    if d["decision"] == "unchanged":
        console.print(f"{d['ref']} is already @{d['alias']}; nothing changed")
        return
    comp = d.get("comparison")
    if comp and comp.get("skipped"):
        console.print(f"vs champion {comp['champion']}: {comp['skipped']}")
    elif comp and comp.get("refusal"):
        console.print(f"vs champion {comp['champion']}: {comp['refusal']}")
    elif comp:
        t = comp["mcnemar"]
        console.print(f"vs champion {comp['champion']}: {f1_versus(comp)}, McNemar p = "
                      f"{t['p_value']:.3g}")
    else:
        console.print("no current champion: first promotion")
    if d["decision"] == "forced":
        console.print(f"[yellow]FORCED[/] despite: {' | '.join(d['problems'])}\nreason: {d['reason']}")
    console.print(f"[bold green]{d['ref']} is now @{d['alias']}[/] (decision recorded in "
                  f"promotion.json and promotions.jsonl)")


def show_canvas(c, console) -> None:
    """Print the canvas as rich tables (the `canvas show` command)."""
    from mlops_dl.errors import ConfigError
    from mlops_dl.gates.canvas import check_data_config

    console.print(f"[bold]{c.name}[/] - {c.task}")
    if c.value:
        console.print(f"[dim]value:[/] {c.value}")
    try:
        cfg = check_data_config(c)
        sources = ", ".join(f"{s.kind}:{s.path or s.hub_id or s.package}"
                            + (f" ({s.split})" if s.split else "") for s in cfg.data.sources)
        data_line = f"{c.data_config} -> data.name {cfg.data.name}; sources {sources}"
    except ConfigError as e:
        data_line = f"{c.data_config} [red](problem: {e})[/]"
    console.print(f"[dim]labels:[/] {', '.join(c.labels)}   [dim]data:[/] {data_line}")
    table = Table(title=f"canvas {c.source}", show_lines=False)
    table.add_column("gate / policy")
    table.add_column("rule")
    o, lat, b, m, f = c.offline, c.latency, c.behaviour, c.monitoring, c.feedback
    table.add_row("offline metric", f"{o.metric} >= {o.threshold:.2f} on the frozen test split; "
                  f"no class F1 below {o.per_class_f1_floor:.2f}")
    table.add_row("latency", f"p95 <= {lat.p95_ms:g} ms at batch 1 ({lat.variant}, {lat.hardware})")
    switches = ", ".join(f"{k} {getattr(b, k).enabled}" for k in ("name", "mention", "url", "negation"))
    table.add_row("behaviour", f"invariance >= {b.invariance_min_rate:.0%}, negation lowers "
                  f"P({b.positive_label}) in >= {b.negation_min_rate:.0%} "
                  f"({'gate' if b.gate else 'report only'}; {switches})")
    table.add_row("promotion", f"to @{c.promotion.alias}: accepted, and not worse than the "
                  f"champion (lower macro-F1 with McNemar p < {c.promotion.alpha})")
    table.add_row("drift", f"PSI warn {m.psi_warn} / alarm {m.psi_alarm}; chi-square / KS "
                  f"p < {m.p_value}; min {m.min_predictions} predictions")
    table.add_row("confidence", f"alarm when the share of predictions with margin (top-1 minus "
                  f"top-2 probability) < {m.low_margin} rises > {m.low_confidence_increase_alarm:.0%}"
                  f" over the reference; [UNK] share +{m.oov_increase_alarm:.0%} over reference")
    table.add_row("feedback", f"queue {f.queue_size} by {f.uncertainty}; retrain after "
                  f"{f.min_new_labels} new labels; dataset {f.dir}/{f.dataset}/")
    console.print(table)
