"""Interleaved measurement: every engine in its own spawned process, measurements in rounds
with the engine order rotating, so time-varying load on a shared machine hits all alike."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import numpy as np


def measure_round_robin(engines: list[dict], texts: list[str], gold: list[int] | None,
                        shapes: list, opts: dict, say=lambda *a: None,
                        tokens: list[int] | None = None) -> dict:
    """Every engine in its own spawned process; measurements interleaved in ``opts['rounds']``
    rounds (engine order rotating), so time-varying load on a shared machine hits all alike.
    With ``tokens`` (our tokenizer's count per text) and ``opts['token_budget']``, each round's
    stream_tokens batches are planned once here and handed to every engine."""
    from mlops_dl.bench.engines import engine_figures, load_engine, task
    from mlops_dl.runtime.batching import plan_windows

    ctx = get_context("spawn")
    pools = {e["label"]: ProcessPoolExecutor(1, mp_context=ctx, initializer=load_engine,
                                             initargs=(e,)) for e in engines}

    def call(label: str, *args):
        return pools[label].submit(task, *args).result()

    try:
        res, failed = {}, {}
        for k in list(pools):  # an engine that cannot load is reported, the others go on
            try:
                res[k] = dict(call(k, "info"))
            except Exception as e:  # BrokenProcessPool or the engine's own error
                failed[k] = f"failed to load: {type(e).__name__}: {str(e)[:300]}"
                pools.pop(k).shutdown(wait=False, cancel_futures=True)
        labels = list(pools)
        rounds = max(1, int(opts.get("rounds", 4)))
        lat = {k: [] for k in labels}
        planned = tokens is not None and bool(opts.get("token_budget"))
        policies = ["stream", "stream_sorted"] + (["stream_tokens"] if planned else [])
        runs = {k: {p: [0.0, []] for p in policies} for k in labels}
        b1_texts, plan = texts[: opts["latency_n"]], []
        for r in range(rounds):
            say(f"[dim]round {r + 1}/{rounds}: batch-1 latency and stream on every engine[/]")
            lo, hi = r * len(texts) // rounds, (r + 1) * len(texts) // rounds
            chunk = texts[lo:hi]
            batches = plan_windows(tokens[lo:hi], opts["window"], opts["token_budget"],
                                 opts["token_max_texts"]) if planned else []
            plan += [[lo + i for i in b] for b in batches]
            for k in labels[r % len(labels):] + labels[:r % len(labels)]:
                lat[k] += call(k, "b1", b1_texts[r::rounds])
                for policy, window in (("stream", 0), ("stream_sorted", opts["window"])):
                    _add(runs[k][policy], call(k, "stream", chunk, opts["batch"], window))
                if planned:
                    _add(runs[k]["stream_tokens"], call(k, "planned", chunk, batches))
        say("[dim]fixed shapes, session tuning, memory[/]")
        figures = {k: {} for k in labels}
        for shape in shapes:
            for k in labels:
                figures[k].update(call(k, "shapes", [shape], opts["shape_budget_s"]))
        tuning = {e["label"]: call(e["label"], "tune", texts[: opts["tune_n"]])
                  for e in engines if e.get("tune") and opts.get("tune_n") and e["label"] in pools}
        for k in labels:
            streams = {policy: (_stats(policy, len(texts), tokens, plan, opts, seconds),
                                np.concatenate(parts))
                       for policy, (seconds, parts) in runs[k].items()}
            res[k] = {**engine_figures(res[k], lat[k], streams, gold, figures[k], call(k, "rss"),
                                       tuning.get(k)), "gc": call(k, "gc")}
        res.update({k: {"skipped": why} for k, why in failed.items()})
        return res
    finally:
        for pool in pools.values():
            pool.shutdown(wait=True, cancel_futures=True)


def _add(run: list, measured: tuple[float, np.ndarray]) -> None:
    """Add one round's (seconds, probs (n, L)) to a policy's [seconds, [probs...]]."""
    run[0] += measured[0]
    run[1].append(measured[1])


def _stats(policy: str, n: int, tokens: list[int] | None, plan: list[list[int]], opts: dict,
           seconds: float) -> dict:
    """A policy's entry of bench.json from its summed seconds over the rounds."""
    from mlops_dl.bench.streams import plan_stats, stream_stats

    if policy == "stream_tokens":
        return plan_stats(tokens, plan, opts, seconds)
    return stream_stats(n, opts["batch"], opts["window"] if policy == "stream_sorted" else 0,
                        seconds)
