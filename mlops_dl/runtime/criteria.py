"""How `auto` ranks candidate servables: by what the caller needs from them.

``latency`` (``serve``: one request at a time): the steadiest batch-1 tail. Candidates whose
batch-1 p95 is within the latency budget (the canvas's ``latency.p95_ms``) come first; among
them the lowest batch-1 p99 wins, and servables within ``P99_TIE`` of that p99 count as tied,
the one with the most texts/s on the stream then winning. ``throughput`` (``predict``, Ray
scoring: whole files): the most texts/s on the real stream as the Predictor batches it.
"""

from __future__ import annotations

PURPOSES = ("latency", "throughput")
# a bench row's stream as the Predictor runs it: the token-budget batches, else (older reports)
# length-sorted batches of 32; the bench's like-for-like policies in the same order
STREAM_AS_RUN = ("stream_tokens", "stream_sorted")
P99_TIE = 1.10  # p99s within 10 % of the best count as equal (2-core timings are noisy)


def stream_as_run(row: dict) -> dict:
    """The figures of the first policy of ``STREAM_AS_RUN`` a bench row measured ({} if none)."""
    return next((row[p] for p in STREAM_AS_RUN if (row.get(p) or {}).get("sent_per_s")), {})


def check_purpose(purpose: str) -> None:
    if purpose not in PURPOSES:
        raise ValueError(f"purpose {purpose!r}: expected one of {', '.join(PURPOSES)}")


def needs(purpose: str) -> tuple[str, ...]:
    """The figures a purpose ranks on (each candidate must have all of them)."""
    return ("texts_per_s", "p50_ms", "p95_ms", "p99_ms") if purpose == "latency" else ("texts_per_s",)


def rank(figures: dict[str, dict], purpose: str, budget_ms: float | None = None
         ) -> tuple[str, str]:
    """(best servable key, the criterion in words). ``figures``: {key: {texts_per_s, p50_ms,
    p95_ms, p99_ms}} of every candidate."""
    check_purpose(purpose)
    if purpose == "throughput":
        best = max(figures, key=lambda k: figures[k]["texts_per_s"])
        return best, "most texts/s on the real stream as the Predictor batches it (batch scoring)"
    within = {k: f for k, f in figures.items() if budget_ms and f["p95_ms"] <= budget_ms}
    pool = within or figures
    floor = min(f["p99_ms"] for f in pool.values())
    tied = [k for k, f in pool.items() if f["p99_ms"] <= floor * P99_TIE]
    best = max(tied, key=lambda k: figures[k]["texts_per_s"])
    if not budget_ms:
        budget = "no latency budget given"
    elif within:
        budget = f"{len(within)} of {len(figures)} within the {budget_ms:g} ms p95 budget"
    else:
        budget = f"none within the {budget_ms:g} ms p95 budget: the lowest tail regardless"
    return best, (f"lowest batch-1 p99 (ties within {P99_TIE:.0%} of it go to the most "
                  f"texts/s) for serving one request at a time; {budget}")


def summary(figures: dict[str, dict], key: str, purpose: str) -> str:
    """The chosen servable's figures in words, and the margin over the next best."""
    f = figures[key]
    words = f"{f['texts_per_s']:.0f} texts/s"
    if purpose == "latency":
        words = (f"batch-1 p50 {f['p50_ms']:.2f} ms, p99 {f['p99_ms']:.2f} ms "
                 f"(p99/p50 {f['p99_ms'] / f['p50_ms']:.2f}), {words}")
        return words
    others = sorted((g["texts_per_s"] for k, g in figures.items() if k != key), reverse=True)
    return words + (f", {f['texts_per_s'] / others[0]:.2f}x the next" if others else "")
