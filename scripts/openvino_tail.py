"""Why OpenVINO's batch-1 p99 is several times its p50: one measurement per hypothesis.

    .venv/bin/python scripts/openvino_tail.py quickstart --variant int8-nncf [--n 300]

Every configuration runs the same real texts one at a time, configurations interleaved in
rounds (a noisy neighbour slows all alike); each row: p50, p99, p99/p50, and the share of the
slow calls (> 2x p50) that were the first call at a new sequence length. Hypotheses:
  new shapes   dynamic shapes are prepared per new input length: a second pass over the same
               texts (every length seen) against the first, and the first-new-length share;
  threads      thread wake-up: 1 thread, CPU pinning off, TBB's static partitioner;
  hint         PERFORMANCE_HINT LATENCY (ours) vs THROUGHPUT;
  buckets      the candidate fix: lengths padded up to a few buckets, each compiled at load.
Prints the CPU model and flags first: figures are for this machine only.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from mlops_dl import machine
from mlops_dl.config import ServeConfig
from mlops_dl.registry import open_registry
from mlops_dl.runtime import build, resolve
from mlops_dl.runtime.openvino import OpenVinoSession

DATA = Path(__file__).resolve().parents[2] / "shared/data/tweeteval-sentiment/test_text.txt"
CONFIGS = {  # name: (OpenVinoSession properties, serve.openvino_buckets)
    "no buckets (before)": ({}, []),
    "threads 1": ({"INFERENCE_NUM_THREADS": 1}, []),
    "no CPU pinning": ({"ENABLE_CPU_PINNING": False}, []),
    "TBB static partitioner": ({"TBB_PARTITIONER": "STATIC"}, []),
    "hint THROUGHPUT": ({"PERFORMANCE_HINT": "THROUGHPUT"}, []),
    "buckets 16..96 (serve default)": ({}, ServeConfig().openvino_buckets),
    "buckets 8..128 every 8": ({}, list(range(8, 129, 8))),
    "static model per bucket 16..96": ({"static": True}, ServeConfig().openvino_buckets),
    "buckets + no pinning": ({"ENABLE_CPU_PINNING": False}, ServeConfig().openvino_buckets),
    "buckets + TBB static": ({"TBB_PARTITIONER": "STATIC"}, ServeConfig().openvino_buckets),
    "buckets + threads 1": ({"INFERENCE_NUM_THREADS": 1}, ServeConfig().openvino_buckets),
}


class StaticBuckets:
    """One model compiled per bucket length with a static sequence axis (batch stays dynamic)."""

    def __init__(self, path: Path, precision: str, buckets: tuple[int, ...]):
        import openvino as ov

        from mlops_dl.runtime.openvino import precision_hint

        core, self.buckets = ov.Core(), buckets
        cfg = {"INFERENCE_PRECISION_HINT": precision_hint(precision),
               "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1}
        self.requests = {}
        for width in buckets:
            model = core.read_model(str(path))
            model.reshape({i.get_any_name(): ov.PartialShape([-1, width]) for i in model.inputs})
            self.requests[width] = core.compile_model(model, "CPU", cfg).create_infer_request()
        self.inner = OpenVinoSession(path, 0, precision)

    def get_inputs(self):
        return self.inner.get_inputs()

    def get_providers(self):
        return self.inner.get_providers()

    def run(self, outputs, feeds):
        width = next(iter(feeds.values())).shape[1]
        request = self.requests.get(width)
        if request is None:
            return self.inner.run(outputs, feeds)
        return [np.array(request.infer(feeds)["logits"], dtype=np.float32, copy=True)]


def one_pass(pred, texts: list[str], seen: set[int]) -> tuple[list[float], list[bool]]:
    """ms per one-text call, and whether each call was the first at its padded length."""
    ms, first = [], []
    for t in texts:
        n = len(pred.encode([t])[0].ids)
        width = next((b for b in pred.buckets if b >= n), n)
        first.append(width not in seen)
        seen.add(width)
        start = time.perf_counter()
        pred.logits([t])
        ms.append((time.perf_counter() - start) * 1000)
    return ms, first


def row(ms: list[float], first: list[bool]) -> dict:
    a = np.asarray(ms)
    p50, p99 = np.percentile(a, 50), np.percentile(a, 99)
    slow = a > 2 * p50
    share = float(np.asarray(first)[slow].mean()) if slow.any() else 0.0
    return {"p50": p50, "p99": p99, "ratio": p99 / p50, "slow": int(slow.sum()),
            "slow_first": share}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ref")
    ap.add_argument("--registry", default=None)
    ap.add_argument("--variant", default="int8-nncf")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    d = machine.describe()
    print(f"CPU: {d['cpu']}, {d['cores']} cores, flags: {' '.join(d['cpu_flags'])}")
    mv = open_registry(args.registry).get(args.ref, verify=True)
    servable = resolve(mv, "openvino", args.variant)
    lines = [x.strip() for x in args.data.read_text(encoding="utf-8").splitlines() if x.strip()]
    texts = lines[: args.n]
    preds = {}
    for name, (props, buckets) in CONFIGS.items():
        pred = build(mv, servable, "cpu", ServeConfig(openvino_buckets=buckets))
        if props.pop("static", False):
            pred.session = StaticBuckets(mv.file(servable.file), servable.precision, pred.buckets)
        elif props:
            pred.session = OpenVinoSession(mv.file(servable.file), 0, servable.precision,
                                           pred.buckets, props)
        preds[name] = pred
    first_pass, second_pass = {}, {}
    for r in range(args.rounds):  # each round: a new slice of texts, every config in turn
        part = texts[r::args.rounds]
        for name, pred in list(preds.items())[r % len(preds):] + list(preds.items())[:r % len(preds)]:
            seen = first_pass.setdefault(name, ([], [], set()))[2]
            ms, first = one_pass(pred, part, seen)
            first_pass[name][0].extend(ms)
            first_pass[name][1].extend(first)
    for name, pred in preds.items():  # every length seen now: the same texts again
        ms, first = one_pass(pred, texts, first_pass[name][2])
        second_pass[name] = row(ms, first)
    print(f"{servable.label}, {len(texts)} texts one at a time, {args.rounds} interleaved rounds")
    print(f"{'configuration':34} {'p50 ms':>7} {'p99 ms':>7} {'p99/p50':>8} {'slow':>5} "
          f"{'new-len':>8} | 2nd pass: {'p50':>6} {'p99':>6} {'p99/p50':>8}")
    for name in preds:
        a, b = row(*first_pass[name][:2]), second_pass[name]
        print(f"{name:34} {a['p50']:7.2f} {a['p99']:7.2f} {a['ratio']:8.2f} {a['slow']:5d} "
              f"{a['slow_first']:8.0%} | {'':10}{b['p50']:6.2f} {b['p99']:6.2f} {b['ratio']:8.2f}")


if __name__ == "__main__":
    main()
