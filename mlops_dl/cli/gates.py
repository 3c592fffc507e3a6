"""`mlops-dl canvas show | accept | promote`: the ML canvas and the gates a version passes.

Thin commands over mlops_dl.gates.canvas, accept and promote; torch-free (inference goes
through the ONNX Predictor).
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.table import Table

from mlops_dl.cli.common import (DEFAULT_CANVAS, CanvasOpt, DataOpt, JsonOpt, RegistryOpt,
                                 echo_json, load_canvas_file, make_console, open_registry)

console = make_console()
canvas_app = typer.Typer(help="The ML canvas: the problem, its gates and policies.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(canvas_app, name="canvas")
    app.command("accept")(accept)
    app.command("promote")(promote)


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
    from mlops_dl.gates.accept import REJECTED_EXIT, summary_rows
    from mlops_dl.gates.accept import accept as run_accept

    result = run_accept(open_registry(registry), ref, load_canvas_file(canvas), data)
    if as_json:
        echo_json({k: v for k, v in result.items() if k != "test_predictions"})
    else:
        table = Table(title=f"acceptance of {result['ref']} ({result['variant']}, "
                            f"{result['n_test']} test texts)")
        for col in ("check", "value", "threshold", "result"):
            table.add_column(col)
        for name, value, threshold, ok in summary_rows(result):
            table.add_row(name, value, threshold, "[green]pass[/]" if ok else "[red]FAIL[/]")
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
        raise typer.Exit(REJECTED_EXIT)


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
