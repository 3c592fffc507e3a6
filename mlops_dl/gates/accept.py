"""Model acceptance test: the frozen test split against the canvas thresholds.

Checks, each pass/fail with its figures: the offline metric, the per-class F1 floor, the p95
batch-1 latency (the version's bench.json, else measured here on ``measure_texts`` texts) and
the behavioural suite. The result is stored with the version as attachment acceptance.json,
including the test predictions so that `promote` does not score the split again.
Torch-free: inference through mlops_dl.runtime.Predictor.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from mlops_dl.gates import behaviour
from mlops_dl.errors import MlopsError
from mlops_dl.metrics import classification_report, engine_label
from mlops_dl.registry.bundle import pick_variant

ATTACHMENT = "acceptance.json"
REJECTED_EXIT = 4  # `mlops-dl accept` exit code when the version fails a check


@dataclass
class TestSplit:
    """The frozen test split with gold ids in the model's label order."""

    texts: list[str]
    gold: list[int]
    data_dir: str
    fingerprint: str


def load_test_split(mv, data_dir: str | Path | None = None) -> TestSplit:
    """test.parquet of the version's prepared data (lineage.json data_dir, or ``data_dir``)."""
    from mlops_dl.data.prepared import load_prepared
    from mlops_dl.monitor.reference import validation_dir

    prepared = load_prepared(validation_dir(mv, data_dir))
    texts, ids = prepared.texts_labels("test")
    model_labels = list(mv.meta["labels"])
    missing = [lab for lab in prepared.labels if lab not in model_labels]
    if missing:
        raise MlopsError(f"{prepared.root}: data labels {missing} are not labels of {mv.ref} "
                         f"({model_labels}); pass the matching --data")
    remap = [model_labels.index(lab) for lab in prepared.labels]
    fp = prepared.fingerprints.get("test") or ""
    return TestSplit(texts, [remap[i] for i in ids], str(prepared.root), fp)


def predictor_for(mv, variant: str):
    from mlops_dl.runtime import Predictor

    return Predictor.from_version(mv, provider="auto",
                                  variant=pick_variant(mv.meta.get("variants", {}), variant))


def stored_predictions(mv, split: TestSplit, variant: str) -> list[int] | None:
    """Test predictions from an earlier acceptance on the same split and variant, if any."""
    prev = mv.attachment(ATTACHMENT) or {}
    same = (prev.get("test_fingerprint") == split.fingerprint and split.fingerprint
            and prev.get("variant") == variant and len(prev.get("test_predictions", [])) == len(split.gold))
    return list(prev["test_predictions"]) if same else None


def offline_checks(report: dict, gate) -> list[dict]:
    value = report[gate.metric]
    worst = min(report["per_class"].items(), key=lambda kv: kv[1]["f1"])
    below = {k: v["f1"] for k, v in report["per_class"].items() if v["f1"] < gate.per_class_f1_floor}
    return [
        {"name": gate.metric, "value": value, "threshold": gate.threshold,
         "passed": value >= gate.threshold},
        {"name": "per_class_f1_floor", "value": worst[1]["f1"], "worst_class": worst[0],
         "threshold": gate.per_class_f1_floor, "below": below, "passed": not below},
    ]


def latency_check(mv, predictor, texts: list[str], budget) -> dict:
    """p95 batch-1 latency from bench.json, else timed now on ``budget.measure_texts`` texts."""
    bench = mv.attachment("bench.json") or {}
    engine = (bench.get("engines") or {}).get(f"onnx-{predictor.variant}") or {}
    p95 = (engine.get("batch1") or {}).get("p95_ms")
    if isinstance(p95, (int, float)):
        hw = bench.get("hardware") or {}
        source = f"bench.json of {bench.get('date', '?')} ({hw.get('cpu') or hw.get('device') or hw})"
    else:
        sample = texts[: budget.measure_texts] or ["a short text"]
        for t in sample[:5]:
            predictor.predict([t])  # warm-up
        ms = []
        for t in sample:
            t0 = time.perf_counter()
            predictor.predict([t])
            ms.append((time.perf_counter() - t0) * 1000)
        p95 = float(np.percentile(ms, 95))
        source = (f"measured now on {len(sample)} test texts on this machine ({os.cpu_count()} "
                  f"CPUs, no bench.json; run `mlops-dl bench` on the target hardware)")
    return {"name": "latency_p95_batch1", "value": float(p95), "threshold": budget.p95_ms,
            "hardware": budget.hardware, "source": source, "passed": p95 <= budget.p95_ms}


def accept(registry, ref: str, canvas, data_dir: str | Path | None = None,
           store: bool = True) -> dict:
    """Run the acceptance test of ``ref``; return (and attach) the acceptance.json dict."""
    mv = registry.get(ref, verify=True)
    split = load_test_split(mv, data_dir)
    predictor = predictor_for(mv, canvas.latency.variant)
    labels = predictor.labels
    if list(labels) != list(canvas.labels):
        raise MlopsError(f"{mv.ref} labels {labels} differ from the canvas labels {canvas.labels} "
                         f"({canvas.source})")
    preds = stored_predictions(mv, split, predictor.variant)
    if preds is None:
        preds = predictor.predict_proba(split.texts).argmax(axis=1).tolist()  # (N,)
    report = classification_report(split.gold, preds, labels)
    checks = offline_checks(report, canvas.offline)
    checks.append(latency_check(mv, predictor, split.texts, canvas.latency))
    suite = behaviour.run_suite(predictor, split.texts, canvas.behaviour)
    gated = checks + (suite["checks"] if canvas.behaviour.gate else [])
    result = {
        "ref": mv.ref, "variant": predictor.variant,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "canvas": canvas.source, "canvas_sha256": canvas.sha256,
        "data_dir": split.data_dir, "test_fingerprint": split.fingerprint, "n_test": len(split.gold),
        "passed": all(c["passed"] for c in gated),
        "checks": checks, "behaviour": suite,
        "metrics": {k: report[k] for k in ("accuracy", "macro_f1", "macro_precision",
                                           "macro_recall", "per_class", "confusion_matrix")},
        "test_predictions": [int(p) for p in preds],
    }
    if store:
        registry.attach(mv.ref, ATTACHMENT, result)
    return result


def summary_rows(result: dict) -> list[tuple[str, str, str, bool | None]]:
    """(check, value, threshold, passed) rows for printing; passed None: the check was skipped."""
    rows = []
    engine = engine_label(result["variant"])
    for c in result["checks"]:
        value = f"{c['value']:.4g}" + (f" ({c['worst_class']})" if "worst_class" in c else "")
        op = "<=" if c["name"].startswith("latency") else ">="
        rows.append((f"{c['name']} ({engine})", value + (" ms" if op == "<=" else ""), f"{op} {c['threshold']:g}", c["passed"]))
    gate = "" if result["behaviour"]["gate"] else " (report only)"
    for c in result["behaviour"]["checks"]:
        if c.get("skipped"):
            rows.append((c["name"], f"skipped: {c['skipped']}", f">= {c['min_rate']:.0%}", None))
            continue
        rows.append((c["name"] + gate, f"{c['rate']:.1%} of {c['cases']} cases",
                     f">= {c['min_rate']:.0%}", c["passed"]))
    return rows
