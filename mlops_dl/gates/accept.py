"""Model acceptance test, per servable: the frozen test split against the canvas thresholds.

A servable is (engine, variant, precision) (runtime.variants). ``accept`` evaluates every
servable of the version that runs on this machine (or the ones named): the offline metric, the
per-class F1 floor, the p95 batch-1 latency (the version's bench.json row for that servable,
else measured here on ``measure_texts`` texts) and the behavioural suite. The results go to the
version's acceptance.json (format: registry.acceptance) with the split and machine
fingerprints and each servable's test predictions, so that `promote` does not score the split
again and `auto` chooses only among accepted servables. Torch-free.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from mlops_dl import machine
from mlops_dl.errors import MlopsError
from mlops_dl.gates import behaviour
from mlops_dl.gates.attest import attest, trusted
from mlops_dl.metrics import classification_report
from mlops_dl.monitor.reference import TestSplit, load_test_split  # noqa: F401 (re-exported)
from mlops_dl.registry import acceptance as record_mod
from mlops_dl.registry import layout, signing
from mlops_dl.runtime import auto, build, servable_for
from mlops_dl.runtime.variants import Servable

ATTACHMENT = layout.ACCEPTANCE
REJECTED_EXIT = 4  # `mlops-dl accept` exit code when the version fails a check


def servables_to_accept(mv, canvas, engine: str | None = None,
                        variant: str | None = None) -> tuple[list[Servable], dict]:
    """The servables to evaluate and {key: why skipped}: the one named (``engine`` and
    ``variant`` both concrete), else every servable of the version that runs here."""
    if engine and variant and "auto" not in (engine, variant):
        servable, _ = servable_for(mv, engine, variant)
        return [servable], {}
    return auto.runnable(mv, engine or "auto", variant or "auto", include_varying=True)


def canvas_servable(mv, canvas) -> str:
    """The servable the canvas says is served ('engine:variant'), or 'auto'."""
    lat = canvas.latency
    if "auto" in (lat.engine, lat.variant):
        return "auto"
    return servable_for(mv, lat.engine, lat.variant)[0].key


def stored_predictions(mv, split: TestSplit, key: str) -> list[int] | None:
    """Test predictions from an earlier acceptance of servable ``key`` on the same split."""
    record = record_mod.read(mv)
    row = record.result(key) if record is not None else None
    if row is None or not split.fingerprint or record.fingerprint != split.fingerprint:
        return None
    if signing.verifies() and not trusted(mv, record)[0]:
        return None  # with a verifying key, only a verified record's predictions are reused
    preds = row.get("test_predictions") or []
    return [int(p) for p in preds] if len(preds) == len(split.gold) else None


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
    """p95 batch-1 latency from this servable's bench.json row, else timed now."""
    bench = mv.attachment(layout.BENCH) or {}
    row = next((r for r in (bench.get("engines") or {}).values()
                if auto.bench_key(r) == predictor.servable.key), {})
    p95 = (row.get("batch1") or {}).get("p95_ms")
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


def evaluate_servable(mv, servable: Servable, split: TestSplit, canvas,
                      reuse: bool = True) -> dict:
    """One servable's acceptance: checks, behaviour, metrics, test predictions (``reuse``:
    the stored predictions of the same servable and split, when there are any)."""
    predictor = build(mv, servable, "auto")
    if list(predictor.labels) != list(canvas.labels):
        raise MlopsError(f"{mv.ref} labels {predictor.labels} differ from the canvas labels "
                         f"{canvas.labels} ({canvas.source})")
    preds = stored_predictions(mv, split, servable.key) if reuse else None
    if preds is None:
        preds = predictor.predict_proba(split.texts).argmax(axis=1).tolist()  # (N,)
    report = classification_report(split.gold, preds, list(canvas.labels))
    checks = offline_checks(report, canvas.offline)
    checks.append(latency_check(mv, predictor, split.texts, canvas.latency))
    suite = behaviour.run_suite(predictor, split.texts, canvas.behaviour)
    gated = checks + (suite["checks"] if canvas.behaviour.gate else [])
    return {
        **servable.as_dict(), "passed": all(c["passed"] for c in gated),
        "checks": checks, "behaviour": suite,
        "metrics": {k: report[k] for k in ("accuracy", "macro_f1", "macro_precision",
                                           "macro_recall", "per_class", "confusion_matrix")},
        "test_predictions": [int(p) for p in preds],
    }


def accept(registry, ref: str, canvas, data_dir: str | Path | None = None,
           store: bool = True, engine: str | None = None, variant: str | None = None) -> dict:
    """Run the acceptance test of ``ref``'s servables; return (and attach) acceptance.json."""
    mv = registry.get(ref, verify=True)
    split = load_test_split(mv, data_dir)
    todo, skipped = servables_to_accept(mv, canvas, engine, variant)
    if not todo:
        raise MlopsError(f"{mv.ref}: no servable runs on this machine (skipped: {skipped})")
    results = {s.key: evaluate_servable(mv, s, split, canvas) for s in todo}
    try:
        served = canvas_servable(mv, canvas)
    except MlopsError as e:  # the canvas names a servable the version lacks
        served, skipped = "none", {**skipped, "canvas": str(e)}
    if served == "auto":
        passed = any(r["passed"] and r["batch_invariant"] for r in results.values())
    else:
        passed = bool((results.get(served) or {}).get("passed"))
    result = {
        "schema": record_mod.SCHEMA, "ref": mv.ref,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "canvas": canvas.source, "canvas_sha256": canvas.sha256, "canvas_servable": served,
        "data_dir": split.data_dir, "test_fingerprint": split.fingerprint, "n_test": len(split.gold),
        "machine": machine.describe(), "passed": passed,
        "accepted": [k for k, r in results.items() if r["passed"]],
        "servables": results, "skipped": skipped,
    }
    envelope = attest(mv, result)  # signed when a signing key is set (gates.attest)
    if envelope is not None:
        result["attestation"] = envelope
    if store:
        registry.attach(mv.ref, ATTACHMENT, result)
    return result


def summary_rows(row: dict) -> list[tuple[str, str, str, bool | None]]:
    """(check, value, threshold, passed) rows of one servable; passed None: skipped."""
    rows = []
    what = f"{row.get('engine', 'onnxruntime')} {row.get('variant', '?')}"
    for c in row["checks"]:
        value = f"{c['value']:.4g}" + (f" ({c['worst_class']})" if "worst_class" in c else "")
        op = "<=" if c["name"].startswith("latency") else ">="
        rows.append((f"{c['name']} ({what})", value + (" ms" if op == "<=" else ""),
                     f"{op} {c['threshold']:g}", c["passed"]))
    gate = "" if row["behaviour"]["gate"] else " (report only)"
    for c in row["behaviour"]["checks"]:
        if c.get("skipped"):
            rows.append((c["name"], f"skipped: {c['skipped']}", f">= {c['min_rate']:.0%}", None))
            continue
        rows.append((c["name"] + gate, f"{c['rate']:.1%} of {c['cases']} cases",
                     f">= {c['min_rate']:.0%}", c["passed"]))
    return rows
