"""``export_run``: a training run dir -> validated ONNX variants -> a registered version.

Steps: 1 open the run, 2 PyTorch reference logits on validation texts, 3 export, 4 fuse,
5 quantize (dynamic int8; static QDQ and NNCF int8 calibrated on training texts), 6 check every
variant (fp32: logit tolerance; int8: the task gate, F1 drop and label agreement, with the logit
difference reported beside the logits' scale), 7 bundle, 8 register. Slow loops log "n of N". A failed check of
fp32 or dynamic int8 raises before step 8, so nothing is registered; a static or NNCF int8 that
fails the same gate is left out of the version (its figures in the log and validation.json).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlops_dl.config import ExportConfig
from mlops_dl.errors import MlopsError
from mlops_dl.export import bundle as bundle_mod
from mlops_dl.export import graph, quantize, validate
from mlops_dl.export.source import RunSource, open_run
from mlops_dl.metrics import f1_change_points, format_f1_change, softmax
from mlops_dl.monitor import calibration as calibrators
from mlops_dl.progress import Counter
from mlops_dl.registry import check_alias, check_name, layout, ModelVersion, open_registry, Registry

OPTIONAL = ("int8-static", "int8-nncf", "fp32-plain")  # left out when they fail their check

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
    reg = open_registry(registry or ecfg.registry or None)
    tokenizer = AutoTokenizer.from_pretrained(run.model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(
        run.model_dir, attn_implementation=run.cfg.model.attn_implementation).eval()
    ref = _reference(run, tokenizer, model, log)  # 2
    with tempfile.TemporaryDirectory(prefix="mlops-dl-export-") as tmp:
        work = Path(tmp)
        calibration = _calibration_feeds(run, tokenizer, ecfg)
        with _working_dir(work):  # graph tools may drop scratch files in the cwd
            files, graphs, fusion = _build_variants(model, tokenizer, ecfg, work, log,
                                                    calibration)  # 3-5
        logits, checks = _check_variants(files, graphs, ref, run.labels, ecfg, log)  # 6
        dropped = _drop_failed_optional(files, checks, graphs, log)
        calibrator = calibrators.fit_for_export(logits, ref.gold, run.labels, default_served(files), log)
        validation = {
            "split": "validation", "n_texts": len(ref.texts), "data_dir": run.data_json.get("data_dir"),
            "exporter": ecfg.exporter, "optimized": ecfg.optimize, "fusion": fusion,
            "graphs": graphs, "variants": checks,
            "tokenizer_parity": validate.tokenizer_parity(
                run.model_dir / "tokenizer.json", ref.texts, tokenizer, run.cfg.model.max_length),
            "dropped": dropped, "calibration": calibrators.summary(calibrator),
            "passed": all(c["passed"] for c in checks.values()),
        }
        if not validation["passed"]:
            raise ExportError(_failure_message(run, checks))
        out, stats = _write_bundle(work / "bundle", run, name, tokenizer, ref, files, logits,
                                   validation, model.config)  # 7
        attachments = {layout.REFERENCE_STATS: stats} if stats is not None else {}
        attachments |= {layout.CALIBRATION: calibrator} if calibrator is not None else {}
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
    count = Counter(log, "PyTorch reference, batches", len(batches.feeds))
    return Reference(texts, gold, batches, validate.torch_logits(model, batches, count))


def _calibration_feeds(run: RunSource, tokenizer, ecfg: ExportConfig) -> list[dict]:
    """Token batches of a seeded training sample (static int8 calibration); [] when unused."""
    if ecfg.quantize != "int8" or not (ecfg.int8_static or ecfg.int8_nncf):
        return []
    texts = run.calibration_texts(ecfg.calibration_samples)
    names = graph.input_names(tokenizer)
    return validate.encode(tokenizer, texts, names, run.cfg.model.max_length,
                           ecfg.batch_size).feeds


@contextlib.contextmanager
def _working_dir(path: Path):
    """Run inside ``path``: onnxruntime's symbolic shape inference saves
    sym_shape_infer_temp.onnx (+ its .data) in the current directory when it gives up (seen on
    MiniLM), which must not land in the user's project."""
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def _build_variants(model, tokenizer, ecfg: ExportConfig, work: Path, log: Log,
                    calibration: list[dict]):
    """Export (3), fuse (4) and quantize (5); return files, graph stats and fusion stats.

    Files: fp32 (fused when export.optimize), fp32-plain (the unfused export, standard ops
    only, for OpenVINO), int8 (dynamic), int8-static and int8-nncf (QDQ on the plain graph).
    """
    raw = work / "raw.onnx"
    log(f"exporting ONNX ({ecfg.exporter} exporter, opset {ecfg.opset})")
    graph.export_onnx(model, tokenizer, raw, ecfg.opset, ecfg.exporter)
    graphs = {"exported": graph.graph_stats(raw)}
    files, fusion = {"fp32": raw}, None
    if ecfg.optimize:
        log("fusing (onnxruntime transformers optimizer)")
        files["fp32"] = work / "fused.onnx"
        fusion = graph.optimize(raw, files["fp32"], model.config)
        graphs["fused"] = graph.graph_stats(files["fp32"])
        log(f"fused: {graphs['exported']['nodes']} -> {graphs['fused']['nodes']} nodes")
        if ecfg.portable:
            files["fp32-plain"] = raw
    if ecfg.quantize == "int8":
        log("dynamic int8 (QInt8" + (", per channel)" if ecfg.int8_per_channel else ")"))
        files["int8"] = work / "int8.onnx"
        quantization = graph.quantize_int8(files["fp32"], files["int8"], ecfg.int8_per_channel)
        graphs["int8"] = graph.graph_stats(files["int8"]) | {"quantization": quantization}
    if calibration and ecfg.int8_static:
        log(f"static int8 (QDQ), calibrated on {sum(len(f['input_ids']) for f in calibration)} "
            "training texts")
        files["int8-static"] = work / "int8-static.onnx"
        how = quantize.quantize_static_int8(raw, files["int8-static"], calibration,
                                            ecfg.int8_per_channel, ecfg.int8_static_fp32_ffn_down)
        graphs["int8-static"] = graph.graph_stats(files["int8-static"]) | {"quantization": how}
    if calibration and ecfg.int8_nncf:
        why = quantize.nncf_available()
        if why:
            log(f"NNCF int8 skipped: {why}")
            graphs["int8-nncf"] = {"skipped": why}
        else:
            log("NNCF int8 (post-training quantization)")
            files["int8-nncf"] = work / "int8-nncf.onnx"
            how = quantize.quantize_nncf_int8(raw, files["int8-nncf"], calibration)
            graphs["int8-nncf"] = graph.graph_stats(files["int8-nncf"]) | {"quantization": how}
    return files, graphs, fusion


def _graph_key(variant: str, ecfg: ExportConfig) -> str:
    if variant in ("fp32-plain",) or (variant == "fp32" and not ecfg.optimize):
        return "exported"
    return "fused" if variant == "fp32" else variant


def _check_variants(files: dict, graphs: dict, ref: Reference, labels: list[str],
                    ecfg: ExportConfig, log: Log) -> tuple[dict, dict]:
    """Run every variant on the reference batches and check it against PyTorch (6)."""
    logits, checks = {}, {}
    for i, (variant, path) in enumerate(files.items(), start=1):
        count = Counter(log, f"checking {variant} ({i} of {len(files)}), batches", len(ref.batches.feeds))
        logits[variant] = validate.ort_logits(path, ref.batches, count)  # (N, L)
        if variant.startswith("int8"):  # the task is the gate; the logit difference is a figure
            c = validate.check_variant(logits[variant], ref.logits, ref.gold, labels, None,
                                       ecfg.max_f1_drop, ecfg.min_agreement_int8)
        else:
            c = validate.check_variant(logits[variant], ref.logits, ref.gold, labels,
                                       ecfg.atol_fp32, None)
        c["graph"] = graphs[_graph_key(variant, ecfg)]
        checks[variant] = c
        log(f"ONNX {variant}: max|dlogit| {c['max_abs_logit_diff']:.2e} "
            f"({c['relative_logit_diff']:.2f} × the logits' std {c['logit_scale']:.2f}), agreement "
            f"{c['label_agreement']:.4f}, validation macro-F1 {c['macro_f1']:.4f} (PyTorch "
            f"{c['torch_macro_f1']:.4f}, ΔF1 {format_f1_change(f1_change_points(c))})")
        if variant.startswith("int8") and c["max_abs_logit_diff"] > ecfg.atol_int8:
            log(f"note: {variant} max|dlogit| {c['max_abs_logit_diff']:.3g} is above "
                f"export.atol_int8 {ecfg.atol_int8:g} (reported, not a gate: the int8 gate is "
                f"ΔF1 and agreement)")
    return logits, checks


def _drop_failed_optional(files: dict, checks: dict, graphs: dict, log: Log) -> dict:
    """Leave out optional variants that failed their check; {variant: why} (figures inside)."""
    dropped = {}
    for variant in OPTIONAL:
        if variant in checks and not checks[variant]["passed"]:
            why = _check_failures(variant, checks[variant])
            log(f"{variant} not registered: {why}")
            dropped[variant] = why
            files.pop(variant)
            checks.pop(variant)
    for variant, why in graphs.items():
        if isinstance(why, dict) and "skipped" in why:
            dropped[variant] = why["skipped"]
    return dropped


def _openvino_table(files: dict, ecfg: ExportConfig) -> dict:
    """OpenVINO's variants: the portable fp32 (the unfused export) and the QDQ int8 files."""
    table = {}
    if "fp32-plain" in files or not ecfg.optimize:
        table["fp32"] = layout.ONNX_FILES["fp32-plain"] if "fp32-plain" in files else layout.ONNX_FILES["fp32"]
    table.update({v: layout.ONNX_FILES[v] for v in ("int8-static", "int8-nncf") if v in files})
    return table


def _write_bundle(out: Path, run: RunSource, name: str, tokenizer, ref: Reference,
                  files: dict, logits: dict, validation: dict,
                  model_config) -> tuple[Path, dict | None]:
    """model.json + every bundle file (7); eval samples and the monitoring reference stats
    use the variant served by default."""
    ecfg = run.cfg.export
    served = default_served(files)
    probs = {v: softmax(x) for v, x in logits.items()}  # each (N, L)
    meta = {
        "name": name, "labels": run.labels, "max_length": run.cfg.model.max_length,
        "inputs": graph.input_names(tokenizer), "outputs": ["logits"],
        "variants": {v: layout.ONNX_FILES[v] for v in files if v in bundle_mod.ORT_VARIANTS},
        "openvino": _openvino_table(files, ecfg),
        "architecture": graph.architecture(model_config),
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


def default_served(files: dict) -> str:
    """The file key the default servable (onnxruntime, variant int8 = the batch-invariant int8)
    runs: static QDQ int8, else NNCF int8, else fp32 (eval samples and reference stats use it)."""
    from mlops_dl.runtime.variants import INT8_ALIAS  # the runtime's own alias rule

    return next(v for v in (*INT8_ALIAS["onnxruntime"], "fp32") if v in files)


def _check_failures(variant: str, c: dict) -> str:
    parts = []
    if not c["logits_ok"]:
        parts.append(f"{variant}: max |logit diff| {c['max_abs_logit_diff']:.4g} > "
                     f"export.atol_{variant.split('-')[0]} {c['atol']}")
    if not c.get("agreement_ok", True):
        parts.append(f"ONNX {variant}: label agreement with PyTorch {c['label_agreement']:.4f} is "
                     f"below export.min_agreement_int8 {c['min_agreement']:g}")
    if not c["f1_ok"]:
        parts.append(f"ONNX {variant}: validation macro-F1 {c['macro_f1']:.4f} vs PyTorch "
                     f"{c['torch_macro_f1']:.4f}, ΔF1 {format_f1_change(f1_change_points(c))} "
                     f"is below -export.max_f1_drop ({-c['max_f1_drop']:+.2f} pts; label agreement "
                     f"{c['label_agreement']:.4f})")
    return "; ".join(parts)


def _failure_message(run: RunSource, checks: dict) -> str:
    parts = [_check_failures(v, c) for v, c in checks.items() if not c["passed"]]
    return (f"export of {run.run_dir} refused, nothing was registered: " + "; ".join(parts)
            + ". Loosen the gate with --set export.<key>=... (the keys named above), or export "
            "without int8 (--quantize none).")
