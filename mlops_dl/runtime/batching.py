"""Batch plans: which texts run together, shortest first (pure; numpy-free, no torch).

A batch costs its *padded* tokens: rows x its longest row. ``plan_batches`` with a token budget
puts as many length-sorted texts in each batch as fit that budget (at most ``max_texts``); with
budget 0 it cuts fixed batches of ``max_texts`` texts (the plan before token budgets, kept so
the two can be compared). The Predictor runs these plans; the benchmark plans its
``stream_tokens`` batches once with them and hands the same batches to every engine.
"""

from __future__ import annotations

from collections.abc import Sequence


def padded_tokens(lengths: Sequence[int], batch: Sequence[int]) -> int:
    """Tokens a batch costs once padded: rows x its longest row."""
    return len(batch) * max((lengths[i] for i in batch), default=0)


def plan_batches(lengths: Sequence[int], max_tokens: int = 0, max_texts: int = 32
                 ) -> list[list[int]]:
    """Batches of indices into ``lengths``, shortest texts first; every index exactly once.

    ``max_tokens`` > 0: each batch as large as fits ``max_tokens`` padded tokens and
    ``max_texts`` texts; a text longer than the budget is a batch of its own.
    ``max_tokens`` = 0: fixed batches of ``max_texts`` texts.
    """
    max_texts = max(1, int(max_texts))
    order = sorted(range(len(lengths)), key=lengths.__getitem__)  # stable: ties keep input order
    if max_tokens <= 0:
        return [order[i:i + max_texts] for i in range(0, len(order), max_texts)]
    batches: list[list[int]] = []
    batch: list[int] = []
    for i in order:  # ascending: the text added is the batch's longest
        if batch and (len(batch) >= max_texts or (len(batch) + 1) * lengths[i] > max_tokens):
            batches.append(batch)
            batch = []
        batch.append(i)
    if batch:
        batches.append(batch)
    return batches


def plan_windows(lengths: Sequence[int], window: int, max_tokens: int, max_texts: int
                 ) -> list[list[int]]:
    """``plan_batches`` within each window of ``window`` texts in arrival order (0 = one
    window); indices into the whole of ``lengths``."""
    window = window or len(lengths) or 1
    out = []
    for w0 in range(0, len(lengths), window):
        part = lengths[w0:w0 + window]
        out += [[w0 + i for i in b] for b in plan_batches(part, max_tokens, max_texts)]
    return out
