"""Drift statistics: PSI on binned shares, chi-square on label counts, KS on continuous values.

numpy + scipy only. Each function returns a plain dict; ``status`` turns the figures into
ok / warn / alarm with the canvas thresholds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

EPS = 1e-4  # floor for an empty bin's share, so PSI stays finite


def psi(expected: Sequence[float], actual: Sequence[float], eps: float = EPS) -> float:
    """Population stability index of two binned distributions (counts or shares).

    PSI = sum_i (a_i - e_i) * ln(a_i / e_i) over bin shares, with empty bins floored at ``eps``.
    """
    e = _shares(expected, eps)  # (K,)
    a = _shares(actual, eps)  # (K,)
    if e.shape != a.shape:
        raise ValueError(f"PSI needs the same bins: {e.shape[0]} reference vs {a.shape[0]} live")
    return float(np.sum((a - e) * np.log(a / e)))


def _shares(values: Sequence[float], eps: float) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    total = v.sum()
    if total <= 0:
        raise ValueError("PSI of an empty distribution")
    s = np.maximum(v / total, eps)
    return s / s.sum()


def bin_counts(values: Sequence[float], edges: Sequence[float]) -> list[int]:
    """Counts per reference bin plus one overflow bin for values above the last edge.

    Values below the first edge count in the first bin. The overflow bin keeps "longer than
    anything in the reference" visible instead of folding it into the top bin.
    """
    edges = np.asarray(edges, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    counts, _ = np.histogram(np.clip(v[v <= edges[-1]], edges[0], edges[-1]), bins=edges)
    return [*counts.astype(int).tolist(), int((v > edges[-1]).sum())]


def chi_square(ref_shares: Sequence[float], live_counts: Sequence[int]) -> dict:
    """Goodness of fit of live label counts to the reference shares (expected = n * share)."""
    from scipy.stats import chisquare

    obs = np.asarray(live_counts, dtype=np.float64)  # (L,)
    n = obs.sum()
    if n == 0:
        return {"statistic": None, "p_value": None, "dof": len(obs) - 1}
    expected = _shares(ref_shares, EPS) * n  # (L,)
    stat, p = chisquare(obs, expected)
    return {"statistic": float(stat), "p_value": float(p), "dof": len(obs) - 1}


def ks(reference: Sequence[float], live: Sequence[float]) -> dict:
    """Two-sample Kolmogorov-Smirnov test: max CDF gap and its p-value."""
    from scipy.stats import ks_2samp

    if len(reference) == 0 or len(live) == 0:
        return {"statistic": None, "p_value": None}
    res = ks_2samp(np.asarray(reference, dtype=float), np.asarray(live, dtype=float))
    return {"statistic": float(res.statistic), "p_value": float(res.pvalue)}


def status(psi_value: float | None, p_value: float | None, *, psi_warn: float,
           psi_alarm: float, p_alpha: float) -> str:
    """ok / warn / alarm for one statistic.

    alarm: PSI >= psi_alarm, or a significant test (p < p_alpha) together with PSI >= psi_warn
    (at large n a test alone flags shifts too small to matter); warn: either signal alone.
    """
    big = psi_value is not None and psi_value >= psi_alarm
    some = psi_value is not None and psi_value >= psi_warn
    significant = p_value is not None and p_value < p_alpha
    if big or (significant and some):
        return "alarm"
    if some or significant:
        return "warn"
    return "ok"


def entropy(probs: np.ndarray) -> np.ndarray:
    """Shannon entropy (nats) per row. # (N, L) -> (N,)"""
    p = np.clip(probs, 1e-12, 1.0)
    return -(p * np.log(p)).sum(axis=1)


def margin(probs: np.ndarray) -> np.ndarray:
    """Top-1 minus top-2 probability per row, in [0, 1] for any number of labels.

    The confidence measure of the low-confidence check: 0 = a tie between the two most likely
    labels, 1 = certain. (The top probability alone cannot be compared across label counts:
    with two labels it is never below 0.5.) # (N, L) -> (N,)
    """
    top2 = np.sort(probs, axis=1)[:, -2:]  # (N, 2)
    return top2[:, 1] - top2[:, 0]


def share_shift(reference: Sequence[bool], live: Sequence[bool]) -> dict:
    """Share of True in reference vs live, the increase, and a two-proportion z-test p-value."""
    from scipy.stats import norm

    r, w = np.asarray(reference, dtype=bool), np.asarray(live, dtype=bool)
    p_ref, p_live = float(r.mean()) if len(r) else 0.0, float(w.mean()) if len(w) else 0.0
    pooled = (r.sum() + w.sum()) / max(len(r) + len(w), 1)
    se = float(np.sqrt(pooled * (1 - pooled) * (1 / max(len(r), 1) + 1 / max(len(w), 1))))
    p = float(2 * norm.sf(abs(p_live - p_ref) / se)) if se > 0 and len(r) and len(w) else None
    return {"reference_share": p_ref, "share": p_live, "increase": p_live - p_ref, "p_value": p}
