"""Performance without labels: the expected confusion matrix of calibrated probabilities.

In the spirit of CBPE (confidence-based performance estimation): a prediction ``j`` whose
calibrated probabilities are ``p`` adds ``p[k]`` to cell (gold k, predicted j), so the matrix
is what the confusion matrix would be on average if the labels were drawn from ``p``; per-class
F1 = 2 TP / (2 TP + FP + FN) of it. The interval is a bootstrap over the window that also draws
the labels from ``p``, so it covers the window's *realised* macro-F1. Under label shift
(the class mix changes, the texts of each class do not), the probabilities calibrated on the
validation mix are re-weighted to the window's prior, estimated by EM (Saerens, Latinne &
Decaestecker, 2002). Concept drift (the same texts now mean another label) is invisible here:
only labels show it. numpy only.
"""

from __future__ import annotations

import numpy as np

BOOTSTRAP = 200  # bootstrap replicates of the interval
LEVEL = 0.95  # interval coverage
PRIOR_STRENGTH = 100.0  # EM: pseudo-counts at the training prior
MAX_CELLS = 2_000_000  # bootstrap draws held in memory at once


def expected_confusion(probs: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Rows = gold (expected), columns = predicted. probs # (N, L), pred # (N,) -> (L, L)"""
    n_labels = probs.shape[1]
    onehot = np.eye(n_labels)[pred]  # (N, L)
    return probs.T @ onehot


def f1_per_class(cm: np.ndarray) -> np.ndarray:
    """F1 per class of one or many confusion matrices (same 0-when-absent convention as
    metrics.classification_report). # (..., L, L) -> (..., L)"""
    tp = np.diagonal(cm, axis1=-2, axis2=-1)  # (..., L)
    denom = cm.sum(axis=-1) + cm.sum(axis=-2)  # 2 TP + FP + FN
    return np.divide(2 * tp, denom, out=np.zeros_like(tp, dtype=np.float64), where=denom > 0)


def em_prior(probs: np.ndarray, train_prior: np.ndarray, iters: int = 200, tol: float = 1e-7,
             strength: float = PRIOR_STRENGTH) -> tuple[np.ndarray, np.ndarray]:
    """The window's class prior and the re-weighted posteriors (Saerens et al. EM, with
    ``strength`` pseudo-counts at ``train_prior``: a MAP estimate, so a small window's prior
    stays near the training one instead of chasing its noise).

    probs # (N, L) calibrated under ``train_prior`` # (L,) -> (prior # (L,), posteriors # (N, L))
    """
    base = np.clip(np.asarray(train_prior, dtype=np.float64), 1e-6, None)
    base = base / base.sum()
    prior, post, n = base.copy(), probs, len(probs)
    for _ in range(iters):
        w = probs * (prior / base)  # (N, L)
        post = w / w.sum(axis=1, keepdims=True)
        new = (post.sum(axis=0) + strength * base) / (n + strength)
        done = np.abs(new - prior).max() < tol
        prior = new
        if done:
            break
    return prior, post


def _bootstrap_f1(probs: np.ndarray, pred: np.ndarray, reps: int, seed: int) -> np.ndarray:
    """Macro-F1 of ``reps`` windows resampled with labels drawn from ``probs`` # (reps,)."""
    rng = np.random.default_rng(seed)
    n, n_labels = probs.shape
    cum = np.cumsum(probs, axis=1).astype(np.float32)  # (N, L)
    step = max(1, MAX_CELLS // max(n, 1))  # replicates per batch: bounded memory
    out = []
    for start in range(0, reps, step):
        b = min(step, reps - start)
        idx = rng.integers(0, n, size=(b, n))  # (B, N)
        c = cum[idx]  # (B, N, L)
        u = rng.random((b, n, 1), dtype=np.float32) * c[..., -1:]
        gold = np.minimum((u > c[..., :-1]).sum(axis=-1), n_labels - 1)  # (B, N)
        cells = (np.arange(b)[:, None] * n_labels + gold) * n_labels + pred[idx]  # (B, N)
        cms = np.bincount(cells.ravel(), minlength=b * n_labels * n_labels)
        out.append(f1_per_class(cms.reshape(b, n_labels, n_labels).astype(np.float64)).mean(-1))
    return np.concatenate(out)


def estimate(probs: np.ndarray, pred: np.ndarray, labels: list[str],
             train_prior: np.ndarray | None = None, reps: int = BOOTSTRAP, seed: int = 0) -> dict:
    """Estimated macro-F1 (interval), per-class F1 and accuracy of a window.

    probs # (N, L) calibrated; pred # (N,) the served labels; train_prior # (L,) the class
    prior the calibration saw (None: no label-shift correction); reps 0: no interval."""
    pred = np.asarray(pred, dtype=np.int64)
    out = {"n": int(len(pred)), "label_shift_corrected": train_prior is not None}
    if len(pred) == 0:
        return out | {"macro_f1": None, "interval": None, "per_class": {}, "accuracy": None}
    if train_prior is not None:
        prior, probs = em_prior(probs, train_prior)
        out["prior"] = dict(zip(labels, prior.round(4).tolist()))
        out["train_prior"] = dict(zip(labels, np.round(train_prior, 4).tolist()))
    cm = expected_confusion(probs, pred)  # (L, L)
    f1 = f1_per_class(cm)  # (L,)
    interval = None
    if reps:
        lo, hi = np.quantile(_bootstrap_f1(probs, pred, reps, seed), [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
        interval = [float(lo), float(hi)]
    return out | {"macro_f1": float(f1.mean()), "interval": interval, "level": LEVEL,
                  "per_class": dict(zip(labels, f1.round(4).tolist())),
                  "accuracy": float(np.trace(cm) / len(pred)),
                  "expected_confusion": cm.round(2).tolist()}


def realised(gold: np.ndarray, pred: np.ndarray, labels: list[str]) -> dict:
    """Macro-F1, per-class F1 and accuracy from labels (the same F1 convention)."""
    from mlops_dl.metrics import classification_report

    rep = classification_report(np.asarray(gold), np.asarray(pred), labels)
    return {"n": rep["n"], "macro_f1": rep["macro_f1"], "accuracy": rep["accuracy"],
            "per_class": {k: round(v["f1"], 4) for k, v in rep["per_class"].items()}}
