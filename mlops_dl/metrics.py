"""Classification metrics on label ids, softmax and latency percentiles, numpy only (shared by
evaluate, export, runtime, bench, monitor).

No torch: the serving path uses these too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64. # (N, L) -> (N, L)"""
    z = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def latency_percentiles(ms: Sequence[float], ps: Sequence[int] = (50, 95, 99)) -> dict:
    """{"p50_ms": ..., "p95_ms": ..., "p99_ms": ...} of latencies in ms; {} when there are none."""
    if not len(ms):
        return {}
    values = np.percentile(np.asarray(ms, dtype=np.float64), list(ps))
    return {f"p{p}_ms": float(v) for p, v in zip(ps, values)}


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], n_labels: int) -> np.ndarray:
    """Rows = gold label, columns = predicted label. # (L, L)"""
    cm = np.zeros((n_labels, n_labels), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)), 1)
    return cm


def classification_report(
    y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[str]
) -> dict:
    """Accuracy, macro P/R/F1, per-class P/R/F1/support and the confusion matrix."""
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} items, y_pred {len(y_pred)}")
    cm = confusion_matrix(y_true, y_pred, len(labels))
    tp = np.diag(cm).astype(float)  # (L,)
    predicted = cm.sum(axis=0).astype(float)
    support = cm.sum(axis=1).astype(float)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    total = cm.sum()
    return {
        "n": int(total),
        "accuracy": float(tp.sum() / total) if total else 0.0,
        "macro_precision": float(precision.mean()),
        "macro_recall": float(recall.mean()),
        "macro_f1": float(f1.mean()),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(labels)
        },
        "labels": list(labels),
        "confusion_matrix": cm.tolist(),
    }


def macro_f1(y_true: Sequence[int], y_pred: Sequence[int], n_labels: int) -> float:
    labels = [str(i) for i in range(n_labels)]
    return classification_report(y_true, y_pred, labels)["macro_f1"]


def mcnemar(y_true: Sequence[int], pred_a: Sequence[int], pred_b: Sequence[int]) -> dict:
    """McNemar's exact test: do A and B err on different items more often than chance?

    b = A right and B wrong, c = A wrong and B right; p-value from the exact binomial test
    on the b + c discordant pairs (two-sided).
    """
    from scipy.stats import binomtest

    y = np.asarray(y_true)
    a_ok = np.asarray(pred_a) == y
    b_ok = np.asarray(pred_b) == y
    b = int(np.sum(a_ok & ~b_ok))
    c = int(np.sum(~a_ok & b_ok))
    p = 1.0 if b + c == 0 else float(binomtest(b, b + c, 0.5).pvalue)
    return {"a_right_b_wrong": b, "a_wrong_b_right": c, "p_value": p, "n": int(len(y))}


# --- the one sign convention for the macro-F1 change of an ONNX variant vs the PyTorch model
F1_CHANGE_HEAD = "ΔF1 vs PyTorch (pts)"  # column heading wherever the change is shown


def f1_change_points(check: dict) -> float | None:
    """Variant minus PyTorch macro-F1, in points (negative = the variant is worse).

    Reads ``f1_change_points``, or the ``f1_drop_points`` (PyTorch minus variant) that
    validation.json of older versions holds."""
    if isinstance(check.get("f1_change_points"), (int, float)):
        return float(check["f1_change_points"])
    drop = check.get("f1_drop_points")
    return -float(drop) if isinstance(drop, (int, float)) else None


def format_f1_change(points: float | None) -> str:
    """'-0.95 pts' / '+0.10 pts' ('-' when unknown): the change as every command prints it."""
    return "-" if points is None else f"{round(points, 2) + 0.0:+.2f} pts"  # no "-0.00"


def engine_label(variant: str | None) -> str:
    """What measured a figure: 'PyTorch' (the run's checkpoint) or 'ONNX int8' / 'ONNX fp32'."""
    return "PyTorch" if variant in (None, "", "torch", "pytorch") else f"ONNX {variant}"
