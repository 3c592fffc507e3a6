"""Engine measurements. Each engine lives in its own process (so peak RSS is its own): bench.py
loads it there with ``load_engine`` and calls ``task`` round-robin across engines, so a noisy
neighbour slows every engine alike. Engines: ONNX variants through our Predictor (onnxruntime
or OpenVINO), the PyTorch baselines (torch imported only in ``bench.torch_engines``) and the
CTranslate2 peer (``bench.ct2_engine``). Each engine's ``run(texts)`` runs its texts as one
batch; the batches are the policies' of ``bench.streams``, the same for every engine.
``measure`` runs everything in one go (used by the Optimum peer, which lives in another venv)."""

from __future__ import annotations

import gc
import logging
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np

from mlops_dl.bench.streams import Run, plan_stats, run_batches, stream
from mlops_dl.runtime.batching import plan_windows
from mlops_dl.metrics import latency_percentiles, macro_f1
RunFixed = Callable[[int, int], Callable[[], None]]  # (B, T) -> a zero-argument call


def percentiles(ms: list[float]) -> dict:
    a = np.asarray(ms)
    return {**latency_percentiles(a), "mean_ms": float(a.mean()), "n": len(ms)}


class GcWatch:
    """Garbage collections by generation and their milliseconds, via ``gc.callbacks``."""

    def __init__(self):
        self.count, self.ms, self._start = [0, 0, 0], [0.0, 0.0, 0.0], 0.0
        self.b1_calls_with_gc: list[float] = []  # ms of the batch-1 calls a collection hit

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.count[info["generation"]] += 1
            self.ms[info["generation"]] += (time.perf_counter() - self._start) * 1000

    def summary(self, b1_calls: int) -> dict:
        return {"collections": dict(zip(("gen0", "gen1", "gen2"), self.count)),
                "ms": dict(zip(("gen0", "gen1", "gen2"), (round(m, 3) for m in self.ms))),
                "b1_calls": b1_calls, "b1_calls_with_gc": len(self.b1_calls_with_gc),
                "frozen_objects": gc.get_freeze_count()}


def b1_times(run: Run, texts: list[str], warmup: int = 5) -> list[float]:
    """Milliseconds per call, one text per call, after ``warmup`` calls."""
    for t in texts[:warmup]:
        run([t])
    watch = _LOADED.get("gc")
    ms = []
    for t in texts:
        before = sum(watch.count) if watch else 0
        start = time.perf_counter()
        run([t])
        ms.append((time.perf_counter() - start) * 1000)
        if watch and sum(watch.count) != before:
            watch.b1_calls_with_gc.append(ms[-1])
    _LOADED["b1_calls"] = _LOADED.get("b1_calls", 0) + len(texts)
    return ms


def latency_b1(run: Run, texts: list[str], n: int, warmup: int = 10) -> dict:
    """Per-text latency percentiles on the first ``n`` real texts."""
    return percentiles(b1_times(run, texts[:n], warmup))


def engine_figures(info: dict, b1_ms: list[float], streams: dict[str, tuple[dict, np.ndarray]],
                   gold: list[int] | None, shapes: dict, rss_mb: float,
                   tuning: list | None = None) -> dict:
    """One engine's entry of bench.json. ``streams``: {"stream"|"stream_sorted"|"stream_tokens":
    (stats, probs (N, L))}; with ``gold``: macro-F1 and accuracy in order, macro-F1 on the
    sorted and token-budget runs."""
    result = {**info, "batch1": percentiles(b1_ms)}
    for policy, (stats, _) in streams.items():
        result[policy] = stats
    if gold is not None:
        probs = streams["stream"][1]  # (N, L)
        pred = probs.argmax(axis=1)
        result["macro_f1"] = macro_f1(gold, pred, probs.shape[1])
        result["accuracy"] = float((pred == np.asarray(gold)).mean())
        for policy, key in (("stream_sorted", "macro_f1_sorted"),
                            ("stream_tokens", "macro_f1_tokens")):
            if policy in streams:
                result[key] = macro_f1(gold, streams[policy][1].argmax(axis=1), probs.shape[1])
    result["shapes"] = shapes
    if tuning is not None:
        result["tuning"] = tuning
    result["peak_rss_mb"] = rss_mb
    return result


def fixed_shapes(run_fixed: RunFixed, shapes: list[tuple[int, int]], budget_s: float) -> dict:
    """ms per batch and sentences/s for each (batch, length), ``budget_s`` seconds each."""
    out = {}
    for b, t in shapes:
        call = run_fixed(b, t)
        call()  # warm-up
        times = []
        deadline = time.perf_counter() + budget_s
        while len(times) < 5 or (time.perf_counter() < deadline and len(times) < 200):
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
        med = float(np.median(times))
        out[f"b{b}_t{t}"] = {"ms": med * 1000, "sent_per_s": b / med, "runs": len(times)}
    return out


def fixed_ids(b: int, t: int, vocab: int) -> np.ndarray:
    """Reproducible token ids away from the special tokens. # (B, T)"""
    low = min(1000, vocab // 2)
    return np.random.default_rng(0).integers(low, vocab, size=(b, t), dtype=np.int64)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


_LOADED: dict = {}  # in an engine's own process: what load_engine built


def load_engine(engine: dict) -> None:
    """Process initializer: build the engine once; ``task`` calls reuse it. The runtime's load
    warnings (no acceptance record, ...) stay in the report (``recommendation``, the row's
    settings), not repeated by every engine process and every tuning session."""
    logging.getLogger("mlops_dl.runtime").setLevel(logging.ERROR)
    start = time.perf_counter()
    run, run_fixed, info = _factory(engine)(engine)
    _LOADED.update(engine=engine, run=run, run_fixed=run_fixed,
                   info={"engine": engine["label"], **info, "load_s": time.perf_counter() - start})
    if engine["kind"] != "pytorch":  # ours as served: the heap frozen after load
        from mlops_dl.runtime import freeze_heap

        freeze_heap()
    _LOADED["gc"] = GcWatch()
    gc.callbacks.append(_LOADED["gc"])


def task(name: str, *args):
    """One measurement on the loaded engine: info | b1 | stream | planned | shapes | tune |
    rss | gc."""
    run = _LOADED["run"]
    if name == "info":
        return _LOADED["info"]
    if name == "b1":
        return b1_times(run, *args)
    if name == "stream":
        stats, probs = stream(run, *args)
        return stats["seconds"], probs
    if name == "planned":  # (texts, batches of indices): the bench's stream_tokens plan
        return run_batches(run, *args)
    if name == "shapes":
        return fixed_shapes(_LOADED["run_fixed"], *args)
    if name == "tune":
        return tune_sessions(_LOADED["engine"], *args)
    if name == "rss":
        return peak_rss_mb()
    if name == "gc":
        return _LOADED["gc"].summary(_LOADED.get("b1_calls", 0))
    raise ValueError(f"unknown bench task {name!r}")


def measure(engine: dict, texts: list[str], gold: list[int] | None, shapes: list,
            opts: dict, factory: Callable | None = None, tokens: list[int] | None = None) -> dict:
    """Entry point in the child process: build the engine, run every measurement.

    ``factory(engine) -> (run, run_fixed, info)``; default: PyTorch eager or our Predictor.
    ``tokens`` (our tokenizer's count per text) and ``opts["token_budget"]``: stream_tokens too.
    """
    start = time.perf_counter()
    run, run_fixed, info = (factory or _factory(engine))(engine)
    info = {"engine": engine["label"], **info, "load_s": time.perf_counter() - start}
    b1_ms = b1_times(run, texts[: opts["latency_n"]], warmup=10)
    streams = {"stream": stream(run, texts, opts["batch"]),
               "stream_sorted": stream(run, texts, opts["batch"], opts["window"])}
    if tokens is not None and opts.get("token_budget"):
        plan = plan_windows(tokens, opts["window"], opts["token_budget"], opts["token_max_texts"])
        seconds, probs = run_batches(run, texts, plan)
        streams["stream_tokens"] = (plan_stats(tokens, plan, opts, seconds), probs)
    figures = fixed_shapes(run_fixed, shapes, opts["shape_budget_s"])
    tuning = (tune_sessions(engine, texts[: opts["tune_n"]])
              if engine.get("tune") and opts.get("tune_n") else None)
    return engine_figures(info, b1_ms, streams, gold, figures, peak_rss_mb(), tuning)


def _factory(engine: dict) -> Callable:
    if engine["kind"] == "pytorch":
        from mlops_dl.bench.torch_engines import torch_engine

        return torch_engine
    if engine["kind"] == "ct2":
        from mlops_dl.bench.ct2_engine import ct2_engine

        return ct2_engine
    return _ort_engine


def _ort_engine(engine: dict):
    """Our Predictor on onnxruntime or OpenVINO (``engine["runtime"]``)."""
    from mlops_dl.config import ServeConfig
    from mlops_dl.runtime import from_version

    settings = ServeConfig(**engine.get("settings", {}))
    runtime = engine.get("runtime", "onnxruntime")
    pred = from_version(engine["model_version"], engine["provider"], engine["variant"],
                        settings, engine=runtime)
    vocab = pred.tokenizer.get_vocab_size()

    def run_fixed(b: int, t: int):
        feeds = {"input_ids": fixed_ids(b, t, vocab),
                 "attention_mask": np.ones((b, t), dtype=np.int64),
                 "token_type_ids": np.zeros((b, t), dtype=np.int64)}  # each (B, T)
        feeds = {n: feeds[n] for n in pred.input_names}
        return lambda: pred._run(feeds)

    describe = pred.describe()
    describe.pop("max_batch_tokens", None)
    describe["batching"] = "one batch per call (the bench plans the batches)"
    compute = pred.precision  # the GEMM compute type: fp32, bf16 or int8
    if runtime == "openvino":
        versions = {"openvino": pred.session.version}
    else:
        import onnxruntime

        versions = {"onnxruntime": onnxruntime.__version__}

    def run(texts: list[str]) -> np.ndarray:  # one call = one batch, as for every engine
        return pred.predict_proba(texts, batch_size=max(1, len(texts)), max_tokens=0)

    return run, run_fixed, {"provider": pred.provider, "runtime": runtime,
                            "variant": pred.variant, "compute": compute,
                            "precision": pred.precision,
                            "batch_invariant": pred.servable.batch_invariant,
                            **versions, "settings": describe}


def _busy_neighbour() -> subprocess.Popen:
    """A process that keeps one core busy (the shared-machine case)."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def tune_sessions(engine: dict, texts: list[str]) -> list[dict]:
    """Batch-1 p50 for threads x spinning, on a quiet machine and with one core taken."""
    from mlops_dl.config import ServeConfig
    from mlops_dl.runtime import from_version

    rows = []
    cores = os.cpu_count() or 1
    grid = [(threads, spin, "all") for threads in sorted({1, cores}) for spin in (False, True)]
    grid += [(0, False, level) for level in ("basic", "extended")]
    for busy in (False, True):
        neighbour = _busy_neighbour() if busy else None
        try:
            for threads, spin, level in grid:
                if busy and level != "all":
                    continue
                settings = ServeConfig(intra_op_threads=threads, spinning=spin,
                                       graph_optimization=level)
                pred = from_version(engine["model_version"], engine["provider"],
                                    engine["variant"], settings)
                stats = latency_b1(pred.predict_proba, texts, len(texts), warmup=5)
                rows.append({"threads": threads, "spinning": spin, "graph": level,
                             "neighbour": "busy core" if busy else "quiet",
                             "p50_ms": stats["p50_ms"], "p99_ms": stats["p99_ms"]})
        finally:
            if neighbour is not None:
                neighbour.kill()
                neighbour.wait()
    return rows
