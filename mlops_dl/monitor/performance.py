"""How good the model still is in a window: estimated F1 (no labels), realised F1 (feedback
labels), and the sequential alarms, against the canvas and the version's measured figures.

``expectations_for`` gathers what a version brings (its calibration.json, its test metrics,
the feedback labels of the canvas); ``section`` turns a window's records into the report's
``performance`` and ``sequential`` parts. Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mlops_dl.monitor import calibration, estimate, sequential


@dataclass
class Expectations:
    """What a window is measured against."""

    labels: list[str]
    calibrator: dict | None = None  # the version's calibration.json (None: probabilities as logged)
    threshold: float | None = None  # canvas offline threshold (macro-F1 canvases)
    per_class_floor: float = 0.0
    test: dict = field(default_factory=dict)  # metrics.json "test" report of the version
    gold: dict[str, str] = field(default_factory=dict)  # feedback: text id -> gold label
    notes: list[str] = field(default_factory=list)


def expectations_for(reg, mv, canvas, predictor, store: bool = True) -> Expectations:
    """The version's calibrator for the predictor's variant (calibration.calibrator_for), its
    test figures and the canvas's feedback labels."""
    from mlops_dl.registry import layout

    exp = Expectations(labels=list(predictor.labels), per_class_floor=canvas.offline.per_class_f1_floor)
    exp.threshold = canvas.offline.threshold if canvas.offline.metric == "macro_f1" else None
    exp.calibrator, note = calibration.calibrator_for(reg, mv, predictor, store)
    if exp.calibrator is None:
        exp.notes.append(f"{mv.ref}: {note}: F1 estimated from the logged probabilities as they are")
    elif note:
        exp.notes.append(note)
    exp.test = (mv.read_json(layout.METRICS) or {}).get("test") or {}
    exp.gold = feedback_gold(Path(canvas.feedback.dir) / canvas.feedback.dataset)
    return exp


def feedback_gold(folder: Path) -> dict[str, str]:
    """text id -> gold label of the latest feedback version ({} when there is none)."""
    from mlops_dl.monitor.feedback import read_manifest

    manifest = read_manifest(folder) if folder.is_dir() else {}
    if not manifest.get("latest"):
        return {}
    import pandas as pd

    frame = pd.read_parquet(folder / f"v-{manifest['latest']}.parquet", columns=["id", "label"])
    return dict(zip(frame["id"], frame["label"]))


def _key(text: str) -> str:
    from mlops_dl.data.clean import mask_pii, normalize_whitespace
    from mlops_dl.monitor.feedback import text_id

    return text_id(mask_pii(normalize_whitespace(text)))  # as the labelling queue stored it


def window_arrays(records: list[dict], labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Logged probabilities # (N, L) in the model's label order and served label ids # (N,)."""
    probs = np.array([[float(r["probabilities"].get(lab, 0.0)) for lab in labels]
                      for r in records], dtype=np.float64).reshape(len(records), len(labels))
    probs /= np.clip(probs.sum(axis=1, keepdims=True), 1e-12, None)
    index = {lab: i for i, lab in enumerate(labels)}
    pred = np.array([index.get(r["label"], int(np.argmax(p))) for r, p in zip(records, probs)],
                    dtype=np.int64)
    return probs, pred


def section(records: list[dict], ref: dict, th, exp: Expectations) -> dict:
    """The report's ``performance`` (estimate, realised, targets) and ``sequential`` parts."""
    labels = exp.labels
    probs, pred = window_arrays(records, labels)
    cal = calibration.apply(exp.calibrator, probs)  # (N, L)
    prior = None
    if th.label_shift == "em" and exp.calibrator:
        prior = np.asarray(exp.calibrator["class_prior"], dtype=np.float64)
    est = estimate.estimate(cal, pred, labels, prior)
    perf = {"estimated": est, "calibration": calibration.summary(exp.calibrator),
            "threshold": exp.threshold, "per_class_floor": exp.per_class_floor,
            "test": {k: exp.test.get(k) for k in ("macro_f1", "accuracy", "n")} if exp.test else None,
            "notes": list(exp.notes), "status": _status(est, exp)}
    gold_ids, rows = _labelled(records, labels, exp.gold)
    if rows.size:
        perf["realised"] = estimate.realised(gold_ids, pred[rows], labels)
        perf["estimated_on_labelled"] = estimate.estimate(cal[rows], pred[rows], labels, prior)
    lengths = np.array([len(r["text"]) if isinstance(r.get("text"), str) else np.nan
                        for r in records], dtype=np.float64)  # (N,)
    tests = sequential_tests(cal, pred, lengths, ref, th, exp, gold_ids, rows)
    return {"performance": perf, "sequential": sequential.run_tests(tests, th.false_alarm_rate)}


def _status(est: dict, exp: Expectations) -> str:
    """alarm: the whole interval is below the canvas threshold; warn: the estimate is, or a class
    F1 is below the floor; ok otherwise."""
    if est["macro_f1"] is None or exp.threshold is None:
        return "ok"
    if est["interval"][1] < exp.threshold:
        return "alarm"
    low = any(v < exp.per_class_floor for v in est["per_class"].values())
    return "warn" if est["macro_f1"] < exp.threshold or low else "ok"


def _labelled(records: list[dict], labels: list[str], gold: dict[str, str]):
    """Gold ids and row indices of the records the feedback dataset has a label for."""
    if not gold:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    ids, rows = [], []
    for i, r in enumerate(records):
        g = gold.get(_key(r["text"])) if isinstance(r.get("text"), str) else None
        if g in labels:
            ids.append(labels.index(g)), rows.append(i)
    return np.asarray(ids, dtype=np.int64), np.asarray(rows, dtype=np.int64)


def sequential_tests(cal: np.ndarray, pred: np.ndarray, lengths: np.ndarray, ref: dict, th,
                     exp: Expectations, gold_ids=None, rows=None) -> list:
    """The sequential tests of a stream: predicted-class and long-text shares against the
    reference, the expected accuracy against the calibration's, and (with labels: ``gold_ids``
    at stream positions ``rows``) the realised accuracy against the version's test accuracy.
    cal # (N, L) calibrated, pred # (N,), lengths # (N,) chars (NaN: no text)."""
    tol = th.sequential_tolerance
    labels = exp.labels
    shares = [float(ref["label_distribution"].get(lab, 0.0)) for lab in labels]
    ref_lengths = np.asarray((ref.get("char_length") or {}).get("values") or [], dtype=np.float64)
    known = ~np.isnan(lengths)
    tests = sequential.drift_tests(pred, labels, shares, lengths[known] if known.any() else None,
                                   ref_lengths, tol)
    if exp.calibrator:
        expected = cal[np.arange(len(pred)), pred]  # (N,) P(served label is right)
        tests.append(sequential.accuracy_test("expected accuracy", expected,
                                              exp.calibrator["expected_accuracy"], tol))
    if rows is not None and len(rows) and exp.test.get("accuracy") is not None:
        tests.append(sequential.accuracy_test("realised accuracy (labels)",
                                              gold_ids == pred[rows], exp.test["accuracy"], tol,
                                              rows))
    return tests
