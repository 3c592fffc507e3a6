"""The stream policies of the benchmark, each handed identically to every engine:

    stream         ``batch`` texts per call in arrival order (how eager PyTorch is usually run)
    stream_sorted  each window sorted by length (characters), cut into ``batch`` texts per call
    stream_tokens  batches planned once by ``runtime.batching`` on our tokenizer's token counts
                   (``token_budget`` padded tokens each, in windows), as our runtime serves

Every policy calls an engine's ``run(texts)`` once per batch and puts rows back in order.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from mlops_dl.runtime.batching import padded_tokens

Run = Callable[[list[str]], np.ndarray]  # texts -> probabilities (N, L)


def stream(run: Run, texts: list[str], batch: int, window: int = 0) -> tuple[dict, np.ndarray]:
    """The real stream, ``batch`` texts per call. -> stats, probs (N, L)

    ``window`` = 0: batches in arrival order. ``window`` > 0: each window of texts is sorted by
    length (characters, the same for every engine), cut into batches, and put back in order.
    """
    order = []
    for w0 in range(0, len(texts), window or len(texts) or 1):
        rows = list(range(w0, min(len(texts), w0 + (window or len(texts)))))
        order += sorted(rows, key=lambda i: len(texts[i])) if window else rows
    batches = [order[b0:b0 + batch] for b0 in range(0, len(order), batch)]
    seconds, probs = run_batches(run, texts, batches)
    return stream_stats(len(texts), batch, window, seconds), probs


def run_batches(run: Run, texts: list[str], batches: list[list[int]]) -> tuple[float, np.ndarray]:
    """One warm-up call, then ``run`` once per batch of indices, timed. -> seconds, probs (N, L)"""
    if not batches:
        return 0.0, np.zeros((0, 0))
    run([texts[i] for i in batches[0]])  # warm-up
    out = None
    start = time.perf_counter()
    for rows in batches:
        p = run([texts[i] for i in rows])  # (B, L)
        if out is None:
            out = np.zeros((len(texts), p.shape[1]))  # (N, L)
        out[rows] = p
    return time.perf_counter() - start, out


def stream_stats(n: int, batch: int | None, window: int, seconds: float) -> dict:
    return {"texts": n, "batch": batch, "window": window, "seconds": seconds,
            "sent_per_s": n / seconds}


def plan_stats(tokens: list[int], batches: list[list[int]], opts: dict, seconds: float) -> dict:
    """``stream_tokens``' entry: the stream figures, the budget, batches and padding."""
    padded = sum(padded_tokens(tokens, b) for b in batches)
    return {**stream_stats(len(tokens), None, opts["window"], seconds),
            "token_budget": opts["token_budget"], "max_texts": opts["token_max_texts"],
            "batches": len(batches), "mean_batch": len(tokens) / max(1, len(batches)),
            "tokens": int(sum(tokens)), "padded_tokens": int(padded),
            "padding_share": 1 - sum(tokens) / padded if padded else 0.0}
