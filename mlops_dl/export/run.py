"""``export_run``: a training run dir -> validated ONNX variants -> a registered version.

Steps: 1 open the run, 2 PyTorch reference logits on validation texts, 3 export, 4 fuse,
5 quantize, 6 check every variant (logit tolerance, agreement, int8 F1 gate), 7 bundle,
8 register. A failed check raises before step 8, so nothing is registered.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlops_dl.config import ExportConfig
from mlops_dl.errors import MlopsError
from mlops_dl.export import bundle as bundle_mod
from mlops_dl.export import graph, validate
from mlops_dl.export.source import RunSource, open_run
from mlops_dl.metrics import f1_change_points, format_f1_change, softmax
from mlops_dl.registry import ModelVersion, Registry, check_alias, check_name, layout
from mlops_dl.registry.bundle import pick_variant

Log = Callable[[str], None]


class ExportError(MlopsError):
    """An export check failed (logit tolerance or the int8 F1 gate); nothing was registered."""


@dataclass
class ExportResult:
    version: ModelVersion
    validation: dict
    registry: Registry  # where the version was registered


@dataclass
class Reference:
    """The validation texts, their token batches and PyTorch's logits on them."""

    texts: list[str]
    gold: list[int]
    batches: validate.Batches
    logits: np.ndarray  # (N, L)


def export_run(run_dir: str | Path, name: str = "", registry: str | Path | None = None,
               overrides=(), log: Log = lambda msg: None, alias: str = "") -> ExportResult:
    """Export, validate, fuse, quantize and register a run (then point ``alias`` at it).

    The name and alias are checked before any work, so a bad one costs nothing.
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    if alias:
        check_alias(alias)
    run = open_run(run_dir, overrides)  # 1
    ecfg = run.cfg.export  # ranges checked when config.yaml loaded
    name = check_name(name or ecfg.name or run.cfg.data.name)
    reg = Registry.open(registry or ecfg.registry or None)
    tokenizer = AutoTokenizer.from_pretrained(run.model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(
        run.model_dir, attn_implementation=run.cfg.model.attn_implementation).eval()
    ref = _reference(run, tokenizer, model, log)  # 2
    with tempfile.TemporaryDirectory(prefix="mlops-dl-export-") as tmp:
        work = Path(tmp)
        files, graphs, fusion = _build_variants(model, tokenizer, ecfg, work, log)  # 3-5
        logits, checks = _check_variants(files, graphs, ref, run.labels, ecfg, log)  # 6
        validation = {
            "split": "validation", "n_texts": len(ref.texts), "data_dir": run.data_json.get("data_dir"),
            "exporter": ecfg.exporter, "optimized": ecfg.optimize, "fusion": fusion,
            "graphs": graphs, "variants": checks,
            "tokenizer_parity": validate.tokenizer_parity(
                run.model_dir / "tokenizer.json", ref.texts, tokenizer, run.cfg.model.max_length),
            "passed": all(c["passed"] for c in checks.values()),
        }
        if not validation["passed"]:
            raise ExportError(_failure_message(run, checks))
        out, stats = _write_bundle(work / "bundle", run, name, tokenizer, ref, files, logits,
                                   validation)  # 7
        attachments = {layout.REFERENCE_STATS: stats} if stats is not None else {}
        version = reg.register(name, out, attachments=attachments)  # 8
    if alias:
        reg.promote(version.ref, alias)
    return ExportResult(version, validation, reg)


def _reference(run: RunSource, tokenizer, model, log: Log) -> Reference:
    ecfg = run.cfg.export
    texts, gold = run.validation_split(ecfg.validation_samples)
    names = graph.input_names(tokenizer)
    batches = validate.encode(tokenizer, texts, names, run.cfg.model.max_length, ecfg.batch_size)
    log(f"PyTorch reference on {len(texts)} validation texts")
    return Reference(texts, gold, batches, validate.torch_logits(model, batches))


def _build_variants(model, tokenizer, ecfg: ExportConfig, work: Path, log: Log):
    """Export (3), fuse (4) and quantize (5); return files, graph stats and fusion stats."""
    raw = work / "raw.onnx"
    log(f"exporting ONNX ({ecfg.exporter} exporter, opset {ecfg.opset})")
    graph.export_onnx(model, tokenizer, raw, ecfg.opset, ecfg.exporter)
    graphs = {"exported": graph.graph_stats(raw)}
    files, fusion = {"fp32": raw}, None
    if ecfg.optimize:
        files["fp32"] = work / "fused.onnx"
        fusion = graph.optimize(raw, files["fp32"], model.config)
        graphs["fused"] = graph.graph_stats(files["fp32"])
        log(f"fused: {graphs['exported']['nodes']} -> {graphs['fused']['nodes']} nodes")
    if ecfg.quantize == "int8":
        files["int8"] = work / "int8.onnx"
        quantization = graph.quantize_int8(files["fp32"], files["int8"], ecfg.int8_per_channel)
        graphs["int8"] = graph.graph_stats(files["int8"]) | {"quantization": quantization}
    return files, graphs, fusion


def _check_variants(files: dict, graphs: dict, ref: Reference, labels: list[str],
                    ecfg: ExportConfig, log: Log) -> tuple[dict, dict]:
    """Run every variant on the reference batches and check it against PyTorch (6)."""
    logits, checks = {}, {}
    limits = {"fp32": (ecfg.atol_fp32, None), "int8": (ecfg.atol_int8, ecfg.max_f1_drop)}
    for variant, path in files.items():
        logits[variant] = validate.ort_logits(path, ref.batches)  # (N, L)
        atol, max_drop = limits[variant]
        c = validate.check_variant(logits[variant], ref.logits, ref.gold, labels, atol, max_drop)
        c["graph"] = graphs["int8" if variant == "int8" else "fused" if ecfg.optimize else "exported"]
        checks[variant] = c
        log(f"ONNX {variant}: max|dlogit| {c['max_abs_logit_diff']:.2e}, agreement "
            f"{c['label_agreement']:.4f}, validation macro-F1 {c['macro_f1']:.4f} (PyTorch "
            f"{c['torch_macro_f1']:.4f}, ΔF1 {format_f1_change(f1_change_points(c))})")
    return logits, checks


def _write_bundle(out: Path, run: RunSource, name: str, tokenizer, ref: Reference,
                  files: dict, logits: dict, validation: dict) -> tuple[Path, dict | None]:
    """model.json + every bundle file (7); eval samples and the monitoring reference stats
    use the variant served by default."""
    ecfg = run.cfg.export
    served = pick_variant(files)
    probs = {v: softmax(x) for v, x in logits.items()}  # each (N, L)
    meta = {
        "name": name, "labels": run.labels, "max_length": run.cfg.model.max_length,
        "inputs": graph.input_names(tokenizer), "outputs": ["logits"],
        "variants": {v: layout.VARIANT_FILES[v] for v in files},
        "opset": validation["graphs"]["exported"]["opset"], "optimized": ecfg.optimize,
        "exporter": ecfg.exporter, "pad_token_id": tokenizer.pad_token_id,
        "pad_token": tokenizer.pad_token, "source_run": run.run_dir.name,
    }
    samples = bundle_mod.eval_samples(ref.texts, ref.gold, run.labels, probs,
                                      ref.logits.argmax(-1), served)
    bundle_mod.write_bundle(out, run=run, onnx_files=files, model_meta=meta, validation=validation,
                            lineage_doc=bundle_mod.lineage(run, ecfg.exporter), samples=samples)
    stats = None
    if ecfg.reference_stats:  # the tokenizer the runtime will use, on the bundle's own file
        from mlops_dl.monitor.reference import compute_reference, unk_id
        from mlops_dl.runtime import load_tokenizer

        tok = load_tokenizer(out / layout.TOKENIZER, run.cfg.model.max_length)
        stats = compute_reference(ref.texts, probs[served], run.labels, tok, unk_id(tok), served,
                                  f"export of {run.run_dir.name}: validation texts scored by the "
                                  f"{served} variant")
    return out, stats


def _failure_message(run: RunSource, checks: dict) -> str:
    parts = []
    for variant, c in checks.items():
        if not c["logits_ok"]:
            parts.append(f"{variant}: max |logit diff| {c['max_abs_logit_diff']:.4g} > "
                         f"export.atol_{variant} {c['atol']}")
        if not c["f1_ok"]:
            parts.append(f"ONNX {variant}: validation macro-F1 {c['macro_f1']:.4f} vs PyTorch "
                         f"{c['torch_macro_f1']:.4f}, ΔF1 {format_f1_change(f1_change_points(c))} "
                         f"is below -export.max_f1_drop ({-c['max_f1_drop']:+.2f} pts; label agreement "
                         f"{c['label_agreement']:.4f})")
    return (f"export of {run.run_dir} refused, nothing was registered: " + "; ".join(parts)
            + ". Loosen the tolerance with --set export.<key>=..., or export without int8 "
            "(--quantize none).")
