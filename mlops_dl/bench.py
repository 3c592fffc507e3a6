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

from mlops_dl.errors import DataError

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared/data/tweeteval-sentiment/test_text.txt"
SHAPES = [(1, 32), (1, 128), (8, 32), (8, 128), (32, 32), (32, 128)]
OPTS = {"latency_n": 300, "batch": 32, "shape_budget_s": 2.0, "tune_n": 100}
PEER_DIR = Path("artifacts/bench")  # scripts/optimum_peer.sh writes optimum-<name>-<v>.json here
TARGETS = {"stream_speedup": 6.0, "b1_p50_speedup": 6.0, "max_f1_loss_pts": 0.5,
           "max_p99_over_p50": 1.5}


def read_texts(data: Path | None, labels: Path | None, labels_names: list[str],
               limit: int) -> tuple[list[str], list[int] | None, str]:
    """Texts (one per line, stripped) and gold label ids if a label file is found."""
    data = Path(data) if data else DEFAULT_DATA
    if not data.is_file():
        raise DataError(f"benchmark texts not found: {data} (give --data FILE, one text a line)")
    texts = [line.strip() for line in data.read_text(encoding="utf-8").splitlines()]
    if labels is None and "_text" in data.name:
        guess = data.with_name(data.name.replace("_text", "_labels"))
        labels = guess if guess.is_file() else None
    gold = None
    if labels is not None:
        raw = [line.strip() for line in Path(labels).read_text(encoding="utf-8").splitlines()]
        if len(raw) != len(texts):
            raise DataError(f"{labels}: {len(raw)} labels for {len(texts)} texts in {data}")
        index = {name: i for i, name in enumerate(labels_names)}
        try:
            gold = [int(x) if x.isdigit() else index[x] for x in raw]
        except KeyError as e:
            raise DataError(f"{labels}: label {e} is not one of {labels_names}") from None
    keep = [i for i, t in enumerate(texts) if t][: limit or None]
    return [texts[i] for i in keep], ([gold[i] for i in keep] if gold else None), str(data)


def torch_model_dir(mv) -> tuple[Path | None, str]:
    """The run's save_pretrained dir via lineage.json, or None and why not."""
    path = mv.path / "lineage.json"
    if not path.is_file():
        return None, f"{mv.ref} has no lineage.json"
    run_dir = json.loads(path.read_text(encoding="utf-8")).get("run_dir")
    model = Path(run_dir or "") / "model"
    if not run_dir or not (model / "config.json").is_file():
        return None, f"the run's model dir {model} is missing (lineage.json run_dir={run_dir})"
    return model, ""


def hardware() -> dict:
    cpu = ""
    if Path("/proc/cpuinfo").is_file():
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    import numpy
    import onnxruntime

    return {"cpu": cpu or platform.processor(), "cores": os.cpu_count(),
            "machine": platform.machine(), "python": platform.python_version(),
            "onnxruntime": onnxruntime.__version__, "numpy": numpy.__version__,
            "providers": onnxruntime.get_available_providers()}


def _measure_in_child(engine: dict, texts, gold, shapes, opts) -> dict:
    from mlops_dl.bench_engines import measure

    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        return pool.submit(measure, engine, texts, gold, shapes, opts).result()


def run_bench(ref: str, registry=None, provider: str = "cpu", data: Path | None = None,
              labels: Path | None = None, limit: int = 2000, torch_baseline: bool = True,
              attach: bool = True, chart: Path | None = None, progress=None,
              shapes=SHAPES, opts: dict | None = None) -> dict:
    """Measure every engine on the same texts; return (and attach) the bench.json dict."""
    from mlops_dl.registry import Registry

    reg = Registry(registry)
    mv = reg.get(ref, verify=True)
    opts = {**OPTS, **(opts or {})}
    texts, gold, source = read_texts(data, labels, mv.meta["labels"], limit)
    say = progress.print if progress is not None else (lambda *a, **k: None)
    base = {"name": mv.name, "version": mv.version, "path": str(mv.path), "provider": provider,
            "max_length": int(mv.meta["max_length"])}
    engines = []
    model_dir, why = torch_model_dir(mv)
    if torch_baseline and model_dir is not None:
        engines.append({**base, "kind": "pytorch", "label": "pytorch-eager",
                        "path": str(model_dir)})
    for variant in ("fp32", "int8"):
        if variant in mv.meta.get("variants", {}):
            engines.append({**base, "kind": "onnx", "label": f"onnx-{variant}",
                            "variant": variant, "tune": variant == "int8"})
    results = {}
    for engine in engines:
        say(f"[dim]measuring {engine['label']} on {len(texts)} texts ...[/]")
        results[engine["label"]] = _measure_in_child(engine, texts, gold, shapes, opts)
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
    from mlops_dl.bench_report import write_chart

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
    """The target ratios: best ONNX variant vs PyTorch eager, from this one run."""
    ours = {k: v for k, v in results.items() if k.startswith("onnx-")}
    torch = results.get("pytorch-eager")
    if not ours:
        return {}
    best = max(ours, key=lambda k: ours[k]["stream"]["sent_per_s"])
    out = {"best_variant": best,
           "p99_over_p50": ours[best]["batch1"]["p99_ms"] / ours[best]["batch1"]["p50_ms"]}
    if torch is not None:
        out["stream_speedup"] = ours[best]["stream"]["sent_per_s"] / torch["stream"]["sent_per_s"]
        out["b1_p50_speedup"] = torch["batch1"]["p50_ms"] / ours[best]["batch1"]["p50_ms"]
        if "macro_f1" in torch:
            out["f1_loss_pts"] = 100 * (torch["macro_f1"] - ours[best]["macro_f1"])
        out["shape_speedup"] = {s: ours[best]["shapes"][s]["sent_per_s"] / v["sent_per_s"]
                                for s, v in torch["shapes"].items() if s in ours[best]["shapes"]}
    out["targets"] = TARGETS
    out["met"] = {
        "stream_speedup": out.get("stream_speedup", 0) >= TARGETS["stream_speedup"],
        "b1_p50_speedup": out.get("b1_p50_speedup", 0) >= TARGETS["b1_p50_speedup"],
        "f1_loss": out.get("f1_loss_pts", 99) <= TARGETS["max_f1_loss_pts"],
        "p99_over_p50": out["p99_over_p50"] <= TARGETS["max_p99_over_p50"],
    }
    return out


def print_bench(report: dict, console) -> None:
    from mlops_dl.bench_report import print_report

    print_report(report, console)
