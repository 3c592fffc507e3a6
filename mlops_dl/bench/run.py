"""`mlops-dl bench`: the PyTorch baselines (eager fp32, bf16 autocast, torch.compile, both) vs our
engines (onnxruntime fp32 / int8 / static int8, OpenVINO fp32 / int8) on real labelled texts and
fixed shapes, in one interleaved run, with the machine's GEMM peaks; attached to the version.

Each engine runs in a fresh spawned process (its own peak RSS, no torch in ours). The PyTorch
baselines need the run's save_pretrained model, found through the version's lineage.json. The
texts default to the version's own frozen test split (its prepared data, via lineage.json).
"""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timezone
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from mlops_dl import machine
from mlops_dl.bench.ratios import TARGETS, ratios  # noqa: F401 (re-exported)
from mlops_dl.bench.recommend import recommend
from mlops_dl.bench.texts import DEFAULT_DATA, bench_texts, check_label_ids, read_texts  # noqa: F401
from mlops_dl.bench.torch_engines import KINDS
from mlops_dl.config import ServeConfig
from mlops_dl.errors import DataError
from mlops_dl.registry import layout
from mlops_dl.runtime.variants import ENGINES

SHAPES = [(1, 32), (1, 128), (8, 32), (8, 128), (32, 32), (32, 128)]
# stream_tokens: batches of token_budget padded tokens, token_max_texts at most (0 = not run);
# by default what serve runs
OPTS = {"latency_n": 300, "batch": 32, "window": 512, "rounds": 4, "shape_budget_s": 2.0,
        "tune_n": 100, "peak_s": 2.0, "pytorch": list(KINDS),
        "ct2": ["int8"],  # the CTranslate2 peer's rows: int8 and/or fp32
        "token_budget": ServeConfig.max_batch_tokens,
        "token_max_texts": ServeConfig.max_batch_texts}
PEER_DIR = Path("artifacts/bench")  # scripts/optimum_peer.sh writes optimum-<name>-<v>.json here
BENCH_ENGINES = (*ENGINES, "auto")  # --engine: ours to measure (auto = all)


def torch_model_dir(mv) -> tuple[Path | None, str]:
    """The run's save_pretrained dir via lineage.json, or None and why not."""
    from mlops_dl.train import rundir

    if not mv.has(layout.LINEAGE):
        return None, f"{mv.ref} has no {layout.LINEAGE}"
    run_dir = mv.lineage.get("run_dir")
    model = rundir.model_dir(run_dir or "")
    if not run_dir or not rundir.has_model(run_dir):
        return None, f"the run's model dir {model} is missing (lineage.json run_dir={run_dir})"
    return model, ""


def hardware(gpu: str | None = None) -> dict:
    """CPU model, relevant flags, cores, fingerprint (and GPU name), library versions."""
    import platform

    import onnxruntime

    out = {**machine.describe(), "python": platform.python_version(),
           "onnxruntime": onnxruntime.__version__, "numpy": np.__version__,
           "providers": onnxruntime.get_available_providers()}
    try:
        import openvino

        out["openvino"] = openvino.__version__
    except ImportError:
        pass
    if gpu:
        out["gpu"] = gpu
    return out


def plan_engines(mv, provider: str, torch_baseline: bool, which: str = "auto",
                 torch_kinds=KINDS, ct2_kinds=("int8",)
                 ) -> tuple[list[dict], dict[str, str], str]:
    """The engines to measure, {label: why skipped}, and the PyTorch baseline status."""
    from mlops_dl.bench.ct2_engine import ct2_rows
    from mlops_dl.bench.torch_engines import kind_unsupported
    from mlops_dl.runtime.auto import runnable

    if which not in BENCH_ENGINES:
        raise DataError(f"--engine {which!r}: expected one of {', '.join(BENCH_ENGINES)}")
    base = {"name": mv.name, "version": mv.version, "provider": provider,
            "max_length": int(mv.meta["max_length"])}
    engines, skipped = [], {}
    model_dir, why = torch_model_dir(mv)
    status = "measured" if torch_baseline and model_dir else (
        "skipped (--no-torch)" if not torch_baseline else f"unavailable: {why}")
    if torch_baseline and model_dir is not None:
        for kind in torch_kinds:
            label = f"pytorch-{kind}"
            reason = kind_unsupported(kind, provider)
            if reason:
                skipped[label] = reason
                continue
            engines.append({**base, "kind": "pytorch", "torch": kind, "label": label,
                            "path": str(model_dir)})
    peers, peer_skips = ct2_rows(base, mv, model_dir, ct2_kinds, torch_baseline, PEER_DIR)
    engines += peers
    skipped.update(peer_skips)
    servables, engine_skips = runnable(mv, which, "auto", include_varying=True)
    skipped.update({(f"{k}-*" if ":" not in k else bench_row(*k.split(":"))): reason
                    for k, reason in engine_skips.items()})
    for s in servables:
        engines.append({**base, "kind": "onnx", "runtime": s.engine, "variant": s.variant,
                        "label": bench_row(s.engine, s.variant), "model_version": mv,
                        "tune": s.key == "onnxruntime:int8-static"})
    return engines, skipped, status


def bench_row(engine: str, variant: str) -> str:
    """A bench row's name: 'onnx-int8-static', 'openvino-bf16'."""
    return f"{'onnx' if engine == 'onnxruntime' else engine}-{variant}"


def measure_peaks(provider: str, seconds: float) -> dict:
    """The GEMM peaks in a spawned process of their own (it may import torch for bf16)."""
    from mlops_dl.bench.peaks import gemm_peaks

    if seconds <= 0:
        return {"skipped": {"all": "opts peak_s = 0"}}
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        return pool.submit(gemm_peaks, seconds, provider).result()


def token_counts(mv, texts: list[str]) -> list[int]:
    """Unpadded token count of each text, truncated like the runtime does."""
    from mlops_dl.runtime import load_tokenizer

    tok = load_tokenizer(mv.file(layout.TOKENIZER), int(mv.meta["max_length"]))
    return [len(e.ids) for e in tok.encode_batch(texts)]


def architecture(mv) -> dict | None:
    """Encoder sizes: model.json (export) else the run's config.json via lineage."""
    if mv.meta.get("architecture"):
        return mv.meta["architecture"]
    model_dir, _ = torch_model_dir(mv)
    if model_dir is None:
        return None
    cfg = json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8"))
    keys = {"layers": "num_hidden_layers", "hidden": "hidden_size",
            "intermediate": "intermediate_size", "heads": "num_attention_heads"}
    arch = {k: cfg.get(v) for k, v in keys.items()}
    return arch if all(isinstance(v, int) for v in arch.values()) else None


def run_bench(ref: str, registry=None, provider: str = "cpu", data: Path | None = None,
              labels: Path | None = None, limit: int = 2000, torch_baseline: bool = True,
              attach: bool = True, chart: Path | None = None, progress=None,
              shapes=SHAPES, opts: dict | None = None, engine: str = "auto",
              budget_ms: float | None = None) -> dict:
    """Measure every engine on the same texts; return (and attach) the bench.json dict.
    ``budget_ms``: the canvas's batch-1 p95 budget, for what ``serve`` would choose."""
    from mlops_dl.bench.rounds import measure_round_robin
    from mlops_dl.registry import open_registry

    reg = open_registry(registry)
    mv = reg.get(ref, verify=True)
    opts = {**OPTS, **(opts or {})}
    texts, gold, source = bench_texts(mv, data, labels, limit)  # labels checked before any work
    if not texts:
        raise DataError(f"{source}: no texts to benchmark")
    say = progress.print if progress is not None else (lambda *a, **k: None)
    engines, skipped, torch_status = plan_engines(mv, provider, torch_baseline, engine,
                                                  opts["pytorch"], opts.get("ct2", ()))
    say(f"[dim]GEMM peaks ({opts['peak_s']:g} s each); loading "
        f"{', '.join(e['label'] for e in engines)}; {len(texts)} texts[/]")
    peaks = measure_peaks(provider, opts["peak_s"])
    tokens = token_counts(mv, texts)  # our tokenizer's: plans stream_tokens for every engine
    results = measure_round_robin(engines, texts, gold, shapes, opts, say, tokens)
    arch = architecture(mv)
    shares_of_peak(results, peaks, arch, tokens)
    results.update({k: {"skipped": why} for k, why in skipped.items()})
    peer = read_peer(mv)
    if peer is not None:
        results[peer.get("engine", "optimum-ort")] = peer
    gpu = next((r["gpu"] for r in results.values() if r.get("gpu")), None)
    report = {
        "model": mv.ref, "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "hardware": hardware(gpu), "peaks": peaks, "architecture": arch,
        "data": {"source": source, "texts": len(texts), "labelled": gold is not None,
                 "tokens": int(sum(tokens))},
        "options": opts, "engines": results, "pytorch_baseline": torch_status,
        "optimum_peer": "read from " + peer["source"] if peer else
        f"not found in {PEER_DIR} (run scripts/optimum_peer.sh {mv.ref})",
    }
    report["recommendation"] = recommend(mv, report, budget_ms)
    served = (report["recommendation"].get("serve") or {}).get("servable")
    report["ratios"] = ratios(results, amx="amx_int8" in report["hardware"]["cpu_flags"],
                              served=bench_row(*served.split(":")) if served else None)
    from mlops_dl.bench.report import write_chart

    report["chart"] = str(write_chart(report, chart or PEER_DIR / f"bench-{mv.name}-{mv.version}.png"))
    if attach:
        reg.attach(mv.ref, layout.BENCH, report)
    return report


def shares_of_peak(results: dict, peaks: dict, arch: dict | None, tokens: list[int]) -> None:
    """Each engine's share of the best rate measured here for its compute type (the GEMM peaks
    of every engine, raised to any whole-model rate above them), the stream as run (token
    batches when measured, else length-sorted batches of 32)."""
    from mlops_dl.bench.peaks import achieved, fold_in, flops_per_text
    from mlops_dl.bench.ratios import as_run

    stream_gflop = sum(flops_per_text(arch, t) for t in tokens) / 1e9 if arch else 0.0
    for label, r in results.items():
        fixed = (r.get("shapes") or {}).get("b32_t128")
        if arch and fixed and r.get("compute"):
            fold_in(peaks, r["compute"], 32 * flops_per_text(arch, 128) / (fixed["ms"] / 1000)
                    / 1e9, f"{label} b32x128")
        seconds = (r.get(as_run(r)) or {}).get("seconds")
        if arch and seconds and r.get("compute"):
            fold_in(peaks, r["compute"], stream_gflop / seconds, f"{label} stream")
    for r in results.values():
        if as_run(r) in r and r.get("compute"):
            r["peak"] = achieved(arch, peaks, r["compute"], (r.get("shapes") or {}).get("b32_t128"),
                                 tokens, r[as_run(r)]["seconds"])
            r["peak"]["stream_policy"] = as_run(r)


def read_peer(mv) -> dict | None:
    path = PEER_DIR / f"optimum-{mv.name}-{mv.version}.json"
    if not path.is_file():
        return None
    peer = json.loads(path.read_text(encoding="utf-8"))
    peer["source"] = str(path)
    return peer


def print_bench(report: dict, console) -> None:
    from mlops_dl.bench.report import print_report

    print_report(report, console)
