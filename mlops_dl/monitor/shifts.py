"""Streams with known shifts, for the monitoring bench: a scored pool replayed, a shift injected.

A ``Pool`` is a corpus the version has scored once (lengths, logged probabilities, served
labels, gold); a stream is a sequence of row indices into pools plus the realised labels, so
no text is scored twice. Shifts start at ``shift_at``:

- none: the frozen test split, sampled uniformly (the false-alarm stream);
- class-mix: the first label's share doubled (capped at 0.9), the others scaled down;
- covariate-corpus: rows of another corpus (movie reviews of the demo extra);
- covariate-long: test rows longer than the test split's 75th length percentile;
- concept: inputs unchanged, a share of the realised labels flipped to another label.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SHIFTS = ("none", "class-mix", "covariate-corpus", "covariate-long", "concept")
FLIP_SHARE = 0.3  # concept drift: share of realised labels flipped
LONG_QUANTILE = 0.75


@dataclass
class Pool:
    """A scored corpus: char lengths # (N,), logged probabilities # (N, L), served labels # (N,),
    gold ids # (N,) (-1: unknown)."""

    name: str
    lengths: np.ndarray
    probs: np.ndarray
    pred: np.ndarray
    gold: np.ndarray

    def take(self, idx: np.ndarray) -> Pool:
        return Pool(self.name, self.lengths[idx], self.probs[idx], self.pred[idx], self.gold[idx])


@dataclass
class Stream:
    shift: str
    seed: int
    shift_at: int
    rows: Pool  # the stream's rows in order, ``gold`` = the realised labels


def _concat(name: str, parts: list[Pool]) -> Pool:
    return Pool(name, *(np.concatenate([getattr(p, f) for p in parts])
                        for f in ("lengths", "probs", "pred", "gold")))


def _class_mix(test: Pool, n: int, rng) -> np.ndarray:
    n_labels = test.probs.shape[1]
    prior = np.bincount(test.gold, minlength=n_labels) / len(test.gold)  # (L,)
    target = min(2 * prior[0], 0.9)
    new = prior * (1 - target) / max(1 - prior[0], 1e-9)
    new[0] = target
    by_class = [np.flatnonzero(test.gold == k) for k in range(n_labels)]
    classes = rng.choice(n_labels, size=n, p=new / new.sum())
    return np.array([rng.choice(by_class[k]) for k in classes], dtype=np.int64)


def _flip(gold: np.ndarray, n_labels: int, rng) -> np.ndarray:
    out = gold.copy()
    flip = rng.random(len(gold)) < FLIP_SHARE
    out[flip] = (gold[flip] + rng.integers(1, n_labels, size=int(flip.sum()))) % n_labels
    return out


def make_stream(shift: str, seed: int, test: Pool, other: Pool | None, length: int,
                shift_at: int) -> Stream:
    """One stream of ``length`` predictions, unshifted before ``shift_at``."""
    rng = np.random.default_rng(seed)
    n_after = length - shift_at
    before = test.take(rng.integers(0, len(test.gold), size=shift_at if shift != "none" else length))
    if shift == "none":
        return Stream(shift, seed, length, before)
    if shift == "class-mix":
        after = test.take(_class_mix(test, n_after, rng))
    elif shift == "covariate-corpus":
        if other is None:
            raise ValueError("covariate-corpus needs the other corpus")
        after = other.take(rng.integers(0, len(other.gold), size=n_after))
    elif shift == "covariate-long":
        long_rows = np.flatnonzero(test.lengths > np.quantile(test.lengths, LONG_QUANTILE))
        after = test.take(rng.choice(long_rows, size=n_after))
    elif shift == "concept":
        after = test.take(rng.integers(0, len(test.gold), size=n_after))
        after.gold = _flip(after.gold, test.probs.shape[1], rng)
    else:
        raise ValueError(f"unknown shift {shift!r}: expected one of {', '.join(SHIFTS)}")
    return Stream(shift, seed, shift_at, _concat(f"{test.name}+{shift}", [before, after]))
