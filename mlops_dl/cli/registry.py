"""`mlops-dl registry ...`: list, show, compare, promote, tags, verify, delete (+ aliases.py,
upkeep.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from mlops_dl.cli.common import JsonOpt, RegistryOpt, echo_json, make_console, open_registry
from mlops_dl.errors import MlopsError, RegistryError, quoted
from mlops_dl.runtime.variants import VARIANTS
from mlops_dl.metrics import F1_CHANGE_HEAD, engine_label, f1_change_points, format_f1_change

console = make_console()
registry_app = typer.Typer(help="Browse, compare, promote and verify registered models.",
                           no_args_is_help=True)


def register(app: typer.Typer) -> None:
    from mlops_dl.cli import aliases, upkeep  # history, rollback, alias-remove, copy; gc, keygen

    aliases.register(registry_app)
    upkeep.register(registry_app)
    app.add_typer(registry_app, name="registry")


def _fmt(value, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2e}" if 0 < abs(value) < 10 ** -digits else f"{value:.{digits}f}"
    return str(value)


def _delta(value) -> str:
    if value is None:
        return ""
    color = "green" if value > 0 else "red" if value < 0 else "dim"
    return f"[{color}]{value:+.4f}[/]"


def _version_row(reg, mv) -> dict:
    from mlops_dl.registry import layout

    from mlops_dl.gates.figures import version_figures

    figs = version_figures(mv)
    aliases = [a for a, v in reg.aliases(mv.name).items() if v == mv.version]
    return {
        "ref": mv.ref, "created": mv.meta.get("created"), "aliases": aliases, "tags": mv.tags,
        "variants": sorted(mv.meta.get("variants", {})),
        "val_macro_f1": figs["validation"]["value"], "test_macro_f1": figs["test"]["value"],
        "val_figure": figs["validation"]["text"], "test_figure": figs["test"]["text"],
    }


@registry_app.command("list")
def list_cmd(
    name: Annotated[Optional[str], typer.Argument(help="A model name: list its versions.")] = None,
    registry: RegistryOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List models (or the versions of NAME)."""
    reg = open_registry(registry)
    names = [name] if name else reg.list_models()
    if name and not reg.list_versions(name):
        raise RegistryError(f"no model named {name!r} in registry {reg.root}")
    rows = [_version_row(reg, mv) for n in names for mv in reg.list_versions(n)]
    if not name:  # one row per model: its latest version
        latest = {r["ref"].split(":")[0]: r for r in rows}
        rows = [dict(r, versions=len(reg.list_versions(n))) for n, r in latest.items()]
    if as_json:
        return echo_json(rows)
    table = Table(title=f"{reg.root}" + (f" - {name}" if name else ""))
    heads = {"ref": "ref", "created": "created (UTC)", "aliases": "aliases", "variants": "variants",
             "val_figure": "val macro-F1 (split, n, by)", "test_figure": "test macro-F1 (split, n, by)",
             "versions": "versions"}
    cols = [c for c in heads if name is None or c != "versions"]
    for col in cols + ["tags"]:
        table.add_column(heads.get(col, col), no_wrap=col in ("ref", "created"))
    for r in rows:
        cells = [",".join(r[c]) if isinstance(r[c], list) else _fmt(r[c]) for c in cols]
        cells[1] = (r["created"] or "-")[:16].replace("T", " ")
        table.add_row(*cells, ", ".join(f"{k}={v}" for k, v in r["tags"].items()))
    console.print(table if rows else f"no models in {reg.root}")


@registry_app.command()
def show(ref: str, registry: RegistryOpt = None, as_json: JsonOpt = False) -> None:
    """Show one version: model.json, metrics, validation figures, aliases, tags, files."""
    reg = open_registry(registry)
    mv = reg.get(ref)
    from mlops_dl.registry import layout

    doc = {**_version_row(reg, mv), "path": mv.location, "meta": mv.meta}
    for name in (layout.VALIDATION, layout.LINEAGE):
        if mv.has(name):
            doc[name.removesuffix(".json")] = mv.read_json(name)
    doc["files"] = mv.files()
    doc["attachments"] = mv.attachments()
    if as_json:
        return echo_json(doc)
    console.rule(f"[bold]{mv.ref}[/]  {mv.location}")
    meta = mv.meta
    console.print(f"labels: {meta.get('labels')}   inputs: {meta.get('inputs')}   "
                  f"opset: {meta.get('opset')}   max_length: {meta.get('max_length')}")
    console.print(f"aliases: {', '.join(doc['aliases']) or '-'}   tags: {doc['tags'] or '-'}   "
                  f"attachments: {', '.join(doc['attachments']) or '-'}")
    console.print(f"PyTorch run (before export): val macro-F1 {doc['val_figure']}   "
                  f"test macro-F1 {doc['test_figure']}", highlight=False)
    lineage = doc.get("lineage", {})
    console.print(f"run: {lineage.get('run_id')}   base model: {lineage.get('base_model')}   "
                  f"git: {lineage.get('git_commit')}")
    table = Table(title="export validation (validation split, each ONNX variant vs the PyTorch model)")
    for col in ("variant", "max |logit diff|", "atol", "agreement", "macro-F1 (variant)",
                "macro-F1 (PyTorch)", F1_CHANGE_HEAD, "nodes"):
        table.add_column(col)
    for variant, v in doc.get("validation", {}).get("variants", {}).items():
        table.add_row(engine_label(variant), _fmt(v.get("max_abs_logit_diff"), 6), _fmt(v.get("atol")),
                      _fmt(v.get("label_agreement")), _fmt(v.get("macro_f1")),
                      _fmt(v.get("torch_macro_f1")), format_f1_change(f1_change_points(v)),
                      _fmt(v.get("graph", {}).get("nodes")))
    console.print(table)
    console.print("files: " + ", ".join(f"{k} ({v / 1e6:.2f} MB)" for k, v in doc["files"].items()))


@registry_app.command()
def compare(
    ref_a: str,
    ref_b: str,
    registry: RegistryOpt = None,
    variant: Annotated[Optional[str], typer.Option(help="fp32 or int8 (default: int8 if both have it).")] = None,
    png: Annotated[Optional[Path], typer.Option("--png", help="Write a bar chart here.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Compare two versions side by side, with McNemar's test on the stored eval texts."""
    from mlops_dl.gates.compare import compare as run_compare, headline_bench, write_png

    result = run_compare(open_registry(registry), ref_a, ref_b, variant)
    if png:
        write_png(result, png)
    if as_json:
        return echo_json(result)
    a, b = result["a"]["ref"], result["b"]["ref"]
    console.print(f"[bold]{result['verdict']}[/]", highlight=False)
    sections = [(f"{s} metrics (PyTorch, metrics.json)", result["metrics"][s])
                for s in ("validation", "test")]
    sections += [("per-class F1 (test)", result["per_class_f1"]),
                 ("export validation", result["validation"]),
                 ("bench (headline; all figures in --json)", headline_bench(result["bench"]))]
    for title, rows in sections:
        if not rows:
            continue
        table = Table(title=title)
        for col in ("", a, b, "delta (B - A)"):
            table.add_column(col)
        for r in rows:
            table.add_row(r["key"], _fmt(r["a"]), _fmt(r["b"]),
                          _delta(r["delta"]) or f"[dim]{r.get('note', '')}[/]")
        console.print(table)
    for side in ("a", "b"):
        s = result[side]
        sizes = ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in s["size_bytes"].items())
        console.print(f"{s['ref']}: opset {s['opset']}, optimized {s['optimized']}, {sizes}, "
                      f"run {s['run_id']}")
    smp = result["samples"]
    if smp["n_shared"]:
        mc = smp["mcnemar"]
        console.print(
            f"on {smp['n_shared']} shared eval texts ({result['variant']}): agreement "
            f"{smp['agreement']:.4f}, accuracy {smp['accuracy_a']:.4f} vs {smp['accuracy_b']:.4f}, "
            f"McNemar p = {mc['p_value']:.4g} (A right/B wrong {mc['a_right_b_wrong']}, "
            f"A wrong/B right {mc['a_wrong_b_right']})")
    else:
        console.print("the two versions share no eval texts: no agreement or McNemar test")
    if png:
        console.print(f"chart: {png}")


@registry_app.command()
def promote(ref: str, alias: str, registry: RegistryOpt = None,
            reason: Annotated[str, typer.Option("--reason", help="Why (kept in the alias history).")] = "") -> None:
    """Point ALIAS (e.g. production) at REF, atomically (the move is recorded)."""
    mv = open_registry(registry).promote(ref, alias, reason=reason)
    console.print(f"{mv.name}@{alias} -> {mv.ref}")


@registry_app.command()
def tags(
    ref: str,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="key=value (repeatable).")] = None,
    unset: Annotated[Optional[list[str]], typer.Option("--unset", help="key to remove.")] = None,
    registry: RegistryOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show the tags of REF; --set k=v / --unset k change them."""
    reg = open_registry(registry)
    for item in set_ or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise MlopsError(f"--set {quoted(item)}: expected key=value")
        reg.set_tag(ref, key.strip(), value)
    for key in unset or []:
        reg.set_tag(ref, key.strip(), None)
    current = reg.get(ref, verify=False).tags
    if as_json:
        return echo_json(current)
    for key, value in current.items():
        console.print(f"{key}={value}", highlight=False)


@registry_app.command()
def verify(
    ref: Annotated[Optional[str], typer.Argument(help="name (all its versions), name:N or name@alias (default: everything).")] = None,
    registry: RegistryOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Recompute checksums; exit non-zero if any version is tampered or truncated."""
    from mlops_dl.registry import check_name, parse_ref

    reg = open_registry(registry)
    parsed = parse_ref(ref) if ref else None
    if parsed and (parsed.version is not None or parsed.alias is not None):
        mv = reg.get(ref, verify=False)
        report = [r for r in reg.verify_all(mv.name) if r["ref"] == mv.ref]
    else:
        report = reg.verify_all(check_name(parsed.name) if parsed else None)
    if as_json:
        echo_json(report)
    else:
        for r in report:
            mark = "[green]ok[/]" if r["ok"] else "[red]FAILED[/] " + "; ".join(r["problems"])
            console.print(f"{r['ref']}: {mark}")
    bad = [r["ref"] for r in report if not r["ok"]]
    if bad:
        raise RegistryError(f"{len(bad)} version(s) failed verification: {', '.join(bad)}")
    if not report:
        raise RegistryError(f"nothing to verify in {reg.root}")


@registry_app.command()
def delete(
    ref: str,
    registry: RegistryOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Also remove aliases pointing at it.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete one version (name:N)."""
    reg = open_registry(registry)
    mv = reg.get(ref, verify=False)
    if not yes:
        typer.confirm(f"delete {mv.ref} ({mv.location})?", abort=True)
    reg.delete(ref, force=force)
    console.print(f"deleted {mv.ref}")


@registry_app.command("export-triton")
def export_triton(
    ref: Annotated[str, typer.Argument(help="name, name:N or name@alias.")],
    out_dir: Annotated[Path, typer.Argument(help="Triton model repository (created if needed).")],
    variant: Annotated[str, typer.Option("--variant", help=f"Variant Triton's onnxruntime "
                       f"runs: {', '.join(VARIANTS)} or auto.")] = "int8",
    max_batch_size: Annotated[int, typer.Option("--max-batch-size", help="Triton "
                              "max_batch_size of the three models.")] = 32,
    instance: Annotated[str, typer.Option("--instance", help="Where the ONNX model runs: cpu "
                        "or gpu (the tokenizer stays on CPU).")] = "cpu",
    registry: RegistryOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write REF as a Triton model repository: ONNX model, Python tokenizer, text ensemble."""
    from mlops_dl.serve.triton import export_triton as write_repository

    done = write_repository(ref, out_dir, registry, variant, max_batch_size, instance)
    result = {"ref": done.ref, "variant": done.variant, "repository": str(done.root),
              "models": {role: str(path) for role, path in done.models.items()}}
    if as_json:
        return echo_json(result)
    console.print(f"wrote {done.ref} ({done.variant}) to Triton repository {done.root}:")
    for role, path in done.models.items():
        console.print(f"  {path.name:<24} {role}")
    console.print(f"serve it: tritonserver --model-repository={done.root.resolve()}  "
                  f"(send TEXT to {done.models['ensemble'].name})", highlight=False)
