"""Sequential alarms with a known false-alarm rate: test martingales (betting e-processes).

For a stream of values x_t in [0, 1] and the null "the mean is at least m" the wealth
K_t = prod_{s<=t} (1 + lambda (m - x_s)) is a non-negative supermartingale, so by Ville's
inequality P(K_t ever reaches 1/alpha) <= alpha: the alarm fires at most alpha of the time on a
stream that did not shift, however long it runs and however often it is looked at (the dual of
a confidence sequence). The bets adapt to the recent past (see log_wealth), so a long
unshifted stretch costs little wealth and a later drop is seen soon.
Several tests share alpha by a union bound (alpha / number of one-sided tests). The nulls carry
a tolerance: a share may move by ``tolerance`` and the expected accuracy drop by it before a
test is meant to fire, because the reference figures are themselves estimated. numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SPANS = (100, 400)  # predictions over which the next bet is estimated (one process each)
BET_CAP = 0.5  # largest bet, as a fraction of the largest safe one 1 / (1 - m)


@dataclass
class Test:
    """One one-sided test: alarm when the mean of ``values`` goes below (``"below"``) or above
    (``"above"``) ``bound``."""

    name: str
    values: np.ndarray  # (N,) in [0, 1]
    bound: float
    side: str  # below | above
    reference: float | None = None  # the reference figure the bound was derived from
    positions: np.ndarray | None = None  # stream position of each value (None: 0, 1, 2, ...)


def _lagged_ewma(z: np.ndarray, span: int) -> np.ndarray:
    """Exponentially weighted mean of z_0 .. z_{t-1} at each t (0 at t = 0): predictable."""
    from scipy.signal import lfilter

    a = 1.0 / span
    ew = lfilter([a], [1.0, -(1.0 - a)], z)  # (N,) bias towards 0 early: timid first bets
    return np.r_[0.0, ew[:-1]]


def log_wealth(x: np.ndarray, m: float) -> np.ndarray:
    """log K_t for H0: mean >= m. x # (N,) in [0, 1] -> (N,)

    Each bet is fixed before its value is seen (predictable), so K stays a supermartingale
    under H0: lambda_t = E[z] / E[z^2] of z = m - x over the recent past (the growth-optimal
    bet, GRAPA), clipped to [0, cap / (1 - m)], from exponentially weighted means over
    ``SPANS`` predictions; K is the average of one such process per span."""
    x = np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0)
    if m <= 0.0:  # a mean below 0 is impossible: never alarm
        return np.full(len(x), -np.inf)
    z = m - x  # (N,) mean <= 0 under H0
    cap = BET_CAP / max(1.0 - m, 1e-9)  # 1 + lambda z > 0 needs lambda < 1 / (1 - m)
    paths = []
    for span in SPANS:
        mean, sq = _lagged_ewma(z, span), _lagged_ewma(z * z, span)
        lam = np.clip(np.divide(mean, sq, out=np.zeros_like(mean), where=sq > 0), 0.0, cap)
        paths.append(np.cumsum(np.log1p(lam * z)))
    paths = np.vstack(paths)  # (S, N)
    top = paths.max(axis=0)
    return top + np.log(np.exp(paths - top).mean(axis=0))


def run_test(t: Test, alpha: float) -> dict:
    """First stream position where the test's wealth reaches 1/alpha (None: no alarm) and its
    final e-value."""
    x, m = (t.values, t.bound) if t.side == "below" else (1.0 - t.values, 1.0 - t.bound)
    lw = log_wealth(x, m) if len(x) else np.zeros(0)
    hits = np.flatnonzero(lw >= np.log(1.0 / alpha))
    if len(hits) and t.positions is not None:
        hits = np.asarray(t.positions)[hits]
    mean = float(np.mean(t.values)) if len(t.values) else None
    return {"name": t.name, "side": t.side, "bound": float(t.bound), "reference": t.reference,
            "n": int(len(x)), "mean": mean, "alpha": alpha,
            "alarm_at": int(hits[0]) if len(hits) else None,
            "e_value": float(np.exp(min(lw[-1], 700.0))) if len(lw) else 1.0}


def run_tests(tests: list[Test], alpha: float) -> dict:
    """Every test at alpha / len(tests); the earliest alarm over all of them."""
    each = alpha / max(len(tests), 1)
    results = [run_test(t, each) for t in tests]
    fired = [r for r in results if r["alarm_at"] is not None]
    first = min(fired, key=lambda r: r["alarm_at"]) if fired else None
    return {"false_alarm_rate": alpha, "tests": results,
            "alarm_at": first["alarm_at"] if first else None,
            "alarm": first["name"] if first else None}


def share_tests(name: str, hits: np.ndarray, share: float, tolerance: float) -> list[Test]:
    """Two one-sided tests: the share of ``hits`` left [share - tolerance, share + tolerance]."""
    x = np.asarray(hits, dtype=np.float64)
    return [Test(f"{name} below", x, share - tolerance, "below", share),
            Test(f"{name} above", x, share + tolerance, "above", share)]


def reference_rank(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Mid-rank of each value in the reference sample, in [0, 1]: mean 1/2 when the values come
    from the reference's distribution, ties included. # (N,) -> (N,)"""
    ref = np.sort(np.asarray(reference, dtype=np.float64))
    lo, hi = np.searchsorted(ref, values, "left"), np.searchsorted(ref, values, "right")
    return (lo + hi) / (2.0 * len(ref))


def drift_tests(pred: np.ndarray, labels: list[str], ref_shares: list[float],
                lengths: np.ndarray | None, ref_lengths: np.ndarray | None,
                tolerance: float) -> list[Test]:
    """Predicted-class shares (all classes but the last when there are two) and the text
    length's mean rank in the reference (longer or shorter texts than at export)."""
    tests = []
    for k, lab in enumerate(labels[:1] if len(labels) == 2 else labels):
        tests += share_tests(f"predicted share {lab}", pred == k, ref_shares[k], tolerance)
    if lengths is not None and ref_lengths is not None and len(ref_lengths):
        tests += share_tests("text length rank", reference_rank(lengths, ref_lengths), 0.5, tolerance)
    return tests


def accuracy_test(name: str, correct: np.ndarray, reference: float, tolerance: float,
                  positions: np.ndarray | None = None) -> Test:
    """Alarm when the (expected or realised) accuracy drops more than ``tolerance``."""
    return Test(name, np.asarray(correct, dtype=np.float64), reference - tolerance, "below",
                reference, positions)
