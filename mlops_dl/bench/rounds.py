"""Interleaved measurement: every engine in its own spawned process, measurements in rounds
with the engine order rotating, so time-varying load on a shared machine hits all alike."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import numpy as np



def measure_round_robin(engines: list[dict], texts: list[str], gold: list[int] | None,
                        shapes: list, opts: dict, say=lambda *a: None) -> dict:
    """Every engine in its own spawned process; measurements interleaved in ``opts['rounds']``
    rounds (engine order rotating), so time-varying load on a shared machine hits all alike."""
    from mlops_dl.bench.engines import engine_figures, load_engine, stream_stats, task

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
        runs = {k: {"stream": [0.0, []], "stream_sorted": [0.0, []]} for k in labels}
        b1_texts = texts[: opts["latency_n"]]
        for r in range(rounds):
            say(f"[dim]round {r + 1}/{rounds}: batch-1 latency and stream on every engine[/]")
            chunk = texts[r * len(texts) // rounds:(r + 1) * len(texts) // rounds]
            for k in labels[r % len(labels):] + labels[:r % len(labels)]:
                lat[k] += call(k, "b1", b1_texts[r::rounds])
                for policy, window in (("stream", 0), ("stream_sorted", opts["window"])):
                    seconds, probs = call(k, "stream", chunk, opts["batch"], window)
                    runs[k][policy][0] += seconds
                    runs[k][policy][1].append(probs)
        say("[dim]fixed shapes, session tuning, memory[/]")
        figures = {k: {} for k in labels}
        for shape in shapes:
            for k in labels:
                figures[k].update(call(k, "shapes", [shape], opts["shape_budget_s"]))
        tuning = {e["label"]: call(e["label"], "tune", texts[: opts["tune_n"]])
                  for e in engines if e.get("tune") and opts.get("tune_n") and e["label"] in pools}
        for k in labels:
            streams = {policy: (stream_stats(len(texts), opts["batch"],
                                             opts["window"] if policy == "stream_sorted" else 0,
                                             seconds), np.concatenate(parts))
                       for policy, (seconds, parts) in runs[k].items()}
            res[k] = {**engine_figures(res[k], lat[k], streams, gold, figures[k], call(k, "rss"),
                                       tuning.get(k)), "gc": call(k, "gc")}
        res.update({k: {"skipped": why} for k, why in failed.items()})
        return res
    finally:
        for pool in pools.values():
            pool.shutdown(wait=True, cancel_futures=True)
