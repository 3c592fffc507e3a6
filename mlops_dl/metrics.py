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
