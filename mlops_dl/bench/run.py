"""`mlops-dl bench`: PyTorch eager vs our ONNX fp32 and int8 runners (+ the Optimum peer) on
real labelled texts and on fixed shapes, in one run; results attached to the registry version.

Each engine runs in a fresh spawned process (its own peak RSS, no torch in ours). The PyTorch
baseline needs the run's save_pretrained model, found through the version's lineage.json.
"""

from __future__ import annotations

import json
import os
import platform
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timezone
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from mlops_dl import machine
from mlops_dl.errors import DataError

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared/data/tweeteval-sentiment/test_text.txt"
SHAPES = [(1, 32), (1, 128), (8, 32), (8, 128), (32, 32), (32, 128)]
OPTS = {"latency_n": 300, "batch": 32, "window": 512, "rounds": 4, "shape_budget_s": 2.0,
        "tune_n": 100}
PEER_DIR = Path("artifacts/bench")  # scripts/optimum_peer.sh writes optimum-<name>-<v>.json here
TARGETS = {"stream_speedup": 6.0, "b1_p50_speedup": 6.0, "max_f1_loss_pts": 0.5,
           "max_p99_over_p50": 1.5}


def read_texts(data: Path | None, labels: Path | None, labels_names: list[str],
               limit: int) -> tuple[list[str], list[int] | None, str]:
    """Texts and gold label ids (None when no labels are found), first ``limit`` (0 = all).

    ``data``: a text file (one text a line, labels in --labels or the ``*_labels`` file beside
    it) or a prepared split (.parquet with columns text, label id), e.g. the frozen test split.
    """
    data = Path(data) if data else DEFAULT_DATA
    if not data.is_file():
        raise DataError(f"benchmark texts not found: {data} (give --data FILE, one text a line)")
    if data.suffix == ".parquet":
        texts, gold = _read_split(data)
    else:
        texts = [line.strip() for line in data.read_text(encoding="utf-8").splitlines()]
        gold = _read_labels(data, labels, labels_names, len(texts))
    keep = [i for i, t in enumerate(texts) if t][: limit or None]
    return [texts[i] for i in keep], ([gold[i] for i in keep] if gold else None), str(data)


def _read_split(path: Path) -> tuple[list[str], list[int] | None]:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    if "text" not in table.column_names:
        raise DataError(f"{path}: no 'text' column (columns: {', '.join(table.column_names)})")
    gold = table.column("label").to_pylist() if "label" in table.column_names else None
    return [str(t) for t in table.column("text").to_pylist()], gold


def _read_labels(data: Path, labels: Path | None, names: list[str], n: int) -> list[int] | None:
    if labels is None and "_text" in data.name:
        guess = data.with_name(data.name.replace("_text", "_labels"))
        labels = guess if guess.is_file() else None
    if labels is None:
        return None
    raw = [line.strip() for line in Path(labels).read_text(encoding="utf-8").splitlines()]
    if len(raw) != n:
        raise DataError(f"{labels}: {len(raw)} labels for {n} texts in {data}")
    index = {name: i for i, name in enumerate(names)}
    try:
        return [int(x) if x.isdigit() else index[x] for x in raw]
    except KeyError as e:
        raise DataError(f"{labels}: label {e} is not one of {names}") from None


def torch_model_dir(mv) -> tuple[Path | None, str]:
    """The run's save_pretrained dir via lineage.json, or None and why not."""
    from mlops_dl.registry import layout
    from mlops_dl.train import rundir

    if not mv.has(layout.LINEAGE):
        return None, f"{mv.ref} has no {layout.LINEAGE}"
    run_dir = mv.lineage.get("run_dir")
    model = rundir.model_dir(run_dir or "")
    if not run_dir or not rundir.has_model(run_dir):
        return None, f"the run's model dir {model} is missing (lineage.json run_dir={run_dir})"
    return model, ""


def hardware() -> dict:
    import numpy
    import onnxruntime

    return {"cpu": machine.cpu_name(), "cores": os.cpu_count(),
            "machine": platform.machine(), "python": platform.python_version(),
            "onnxruntime": onnxruntime.__version__, "numpy": numpy.__version__,
            "providers": onnxruntime.get_available_providers()}


def measure_round_robin(engines: list[dict], texts: list[str], gold: list[int] | None,
                        shapes: list, opts: dict, say=lambda *a: None) -> dict:
    """Every engine in its own spawned process; measurements interleaved in ``opts['rounds']``
    rounds (engine order rotating), so time-varying load on a shared machine hits all alike."""
    from mlops_dl.bench.engines import engine_figures, load_engine, stream_stats, task

    ctx = get_context("spawn")
    pools = {e["label"]: ProcessPoolExecutor(1, mp_context=ctx, initializer=load_engine,
                                             initargs=(e,)) for e in engines}
    labels = list(pools)

    def call(label: str, *args):
        return pools[label].submit(task, *args).result()

    try:
        info = {k: dict(call(k, "info")) for k in labels}
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
                  for e in engines if e.get("tune") and opts.get("tune_n")}
        res = {}
        for k in labels:
            streams = {policy: (stream_stats(len(texts), opts["batch"],
                                             opts["window"] if policy == "stream_sorted" else 0,
                                             seconds), np.concatenate(parts))
                       for policy, (seconds, parts) in runs[k].items()}
            res[k] = engine_figures(info[k], lat[k], streams, gold, figures[k], call(k, "rss"),
                                    tuning.get(k))
        return res
    finally:
        for pool in pools.values():
            pool.shutdown(wait=True, cancel_futures=True)


def run_bench(ref: str, registry=None, provider: str = "cpu", data: Path | None = None,
              labels: Path | None = None, limit: int = 2000, torch_baseline: bool = True,
              attach: bool = True, chart: Path | None = None, progress=None,
              shapes=SHAPES, opts: dict | None = None) -> dict:
    """Measure every engine on the same texts; return (and attach) the bench.json dict."""
    from mlops_dl.registry import Registry

    reg = Registry.open(registry)
    mv = reg.get(ref, verify=True)
    opts = {**OPTS, **(opts or {})}
    texts, gold, source = read_texts(data, labels, mv.meta["labels"], limit)
    say = progress.print if progress is not None else (lambda *a, **k: None)
    base = {"name": mv.name, "version": mv.version, "provider": provider,
            "max_length": int(mv.meta["max_length"])}
    engines = []
    model_dir, why = torch_model_dir(mv)
    if torch_baseline and model_dir is not None:
        engines.append({**base, "kind": "pytorch", "label": "pytorch-eager",
                        "path": str(model_dir)})
    for variant in ("fp32", "int8"):
        if variant in mv.meta.get("variants", {}):
            engines.append({**base, "kind": "onnx", "label": f"onnx-{variant}",
                            "model_version": mv, "variant": variant, "tune": variant == "int8"})
    say(f"[dim]loading {', '.join(e['label'] for e in engines)}; {len(texts)} texts[/]")
    results = measure_round_robin(engines, texts, gold, shapes, opts, say)
    peer = read_peer(mv)
    if peer is not None:
        results[peer.get("engine", "optimum-ort")] = peer
    report = {
        "model": mv.ref, "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "hardware": hardware(), "data": {"source": source, "texts": len(texts),
                                         "labelled": gold is not None},
        "options": opts, "engines": results,
        "pytorch_baseline": "measured" if "pytorch-eager" in results else (
            "skipped (--no-torch)" if not torch_baseline else f"unavailable: {why}"),
        "optimum_peer": "read from " + peer["source"] if peer else
        f"not found in {PEER_DIR} (run scripts/optimum_peer.sh {mv.ref})",
    }
    report["ratios"] = ratios(results)
    from mlops_dl.bench.report import write_chart

    report["chart"] = str(write_chart(report, chart or PEER_DIR / f"bench-{mv.name}-{mv.version}.png"))
    if attach:
        reg.attach(mv.ref, "bench.json", report)
    return report


def read_peer(mv) -> dict | None:
    path = PEER_DIR / f"optimum-{mv.name}-{mv.version}.json"
    if not path.is_file():
        return None
    peer = json.loads(path.read_text(encoding="utf-8"))
    peer["source"] = str(path)
    return peer


def ratios(results: dict) -> dict:
    """The target ratios, best ONNX variant vs PyTorch eager, from this one run.

    ``stream_speedup``: each as deployed (our runner sorts windows by length, eager PyTorch runs
    batches in arrival order); ``stream_speedup_same_policy``: both on sorted windows.
    """
    ours = {k: v for k, v in results.items() if k.startswith("onnx-")}
    torch = results.get("pytorch-eager")
    if not ours:
        return {}
    best = max(ours, key=lambda k: ours[k]["stream_sorted"]["sent_per_s"])
    mine = ours[best]
    out = {"best_variant": best, "p99_over_p50": mine["batch1"]["p99_ms"] / mine["batch1"]["p50_ms"]}
    if torch is not None:
        out["stream_speedup"] = mine["stream_sorted"]["sent_per_s"] / torch["stream"]["sent_per_s"]
        out["stream_speedup_same_policy"] = (mine["stream_sorted"]["sent_per_s"]
                                             / torch["stream_sorted"]["sent_per_s"])
        out["stream_speedup_in_order"] = mine["stream"]["sent_per_s"] / torch["stream"]["sent_per_s"]
        out["b1_p50_speedup"] = torch["batch1"]["p50_ms"] / mine["batch1"]["p50_ms"]
        if "macro_f1" in torch:
            out["f1_loss_pts"] = 100 * (torch["macro_f1"] - mine["macro_f1"])
        out["shape_speedup"] = {s: mine["shapes"][s]["sent_per_s"] / v["sent_per_s"]
                                for s, v in torch["shapes"].items() if s in mine["shapes"]}
    out["targets"] = TARGETS
    out["met"] = {
        "stream_speedup": out.get("stream_speedup", 0) >= TARGETS["stream_speedup"],
        "b1_p50_speedup": out.get("b1_p50_speedup", 0) >= TARGETS["b1_p50_speedup"],
        "f1_loss": out.get("f1_loss_pts", 99) <= TARGETS["max_f1_loss_pts"],
        "p99_over_p50": out["p99_over_p50"] <= TARGETS["max_p99_over_p50"],
    }
    return out


def print_bench(report: dict, console) -> None:
    from mlops_dl.bench.report import print_report

    print_report(report, console)
