"""`mlops-dl export RUN_DIR`: ONNX export, validation, fusion, int8 gate, registration."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from mlops_dl.cli.common import JsonOpt, RegistryOpt, SetOpt, echo_json, make_console
from mlops_dl.metrics import F1_CHANGE_HEAD, engine_label, f1_change_points, format_f1_change

console = make_console(stderr=True)
console_out = make_console()


def register(app: typer.Typer) -> None:
    app.command("export")(export)


def export(
    run_dir: Annotated[Path, typer.Argument(help="A training run dir (runs/<run-id>).")],
    name: Annotated[Optional[str], typer.Option("--name", "-n", help="Registry model name (default: export.name, then data.name).")] = None,
    quantize: Annotated[Optional[str], typer.Option("--quantize", help="int8 or none (default: export.quantize).")] = None,
    optimize: Annotated[Optional[bool], typer.Option("--optimize/--no-optimize", help="Fuse with the onnxruntime transformers optimizer (default: export.optimize).")] = None,
    registry: RegistryOpt = None,
    alias: Annotated[Optional[str], typer.Option("--alias", help="Point this alias (e.g. staging) at the new version.")] = None,
    set_: SetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Export a run to ONNX (fused fp32 + int8), check it against PyTorch, register it."""
    from mlops_dl.errors import ConfigError
    from mlops_dl.export import export_run

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    overrides = list(set_ or [])
    if quantize is not None:
        if quantize not in ("int8", "none"):
            raise ConfigError(f"--quantize {quantize!r}: expected int8 or none")
        overrides.append(f"export.quantize={quantize}")
    if optimize is not None:
        overrides.append(f"export.optimize={str(optimize).lower()}")
    result = export_run(run_dir, name=name or "", registry=registry, overrides=overrides,
                        log=lambda msg: console.print(f"[dim]{msg}[/]", highlight=False),
                        alias=alias or "")
    mv = result.version
    if as_json:
        echo_json({"ref": mv.ref, "path": mv.location, "validation": result.validation})
        return
    table = Table(title=f"{mv.ref}: checks on {result.validation['n_texts']} validation texts")
    for col in ("variant", "nodes", "MB", "max|dz|", "agree", "macro-F1 (variant)",
                "macro-F1 (PyTorch)", F1_CHANGE_HEAD):
        table.add_column(col, no_wrap=True)
    for variant, c in result.validation["variants"].items():
        table.add_row(engine_label(variant), str(c["graph"]["nodes"]),
                      f"{c['graph']['bytes'] / 1e6:.1f}",
                      f"{c['max_abs_logit_diff']:.1e}", f"{c['label_agreement']:.4f}",
                      f"{c['macro_f1']:.4f}", f"{c['torch_macro_f1']:.4f}",
                      format_f1_change(f1_change_points(c)))
    console_out.print(table)
    from mlops_dl.gates.figures import version_figures

    figs = version_figures(mv)  # what the run's PyTorch model scored, with split and n
    console_out.print(f"PyTorch run: validation macro-F1 {figs['validation']['text']}; test "
                      f"macro-F1 {figs['test']['text']}", highlight=False)
    console_out.print(f"registered [bold]{mv.ref}[/] at {mv.location}" + (f" ({mv.name}@{alias})" if alias else ""))
