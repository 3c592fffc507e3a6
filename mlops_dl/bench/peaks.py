"""The machine's limits: GEMM rates in fp32, bf16 and int8 (about 2 s each), and the FLOPs an
encoder spends per text, so each engine's throughput reads as a fraction of the peak for its
compute type. Run in its own process (``bench.run`` spawns it): it may import torch for bf16."""

from __future__ import annotations

import time

import numpy as np

from mlops_dl import machine

# one MiniLM-sized FFN GEMM on a b32 x s128 batch: (M x K) @ (K x N)
GEMM_SHAPE = (4096, 384, 1536)


def _rate(call, flops: float, seconds: float) -> float:
    """GFLOP/s (or GOP/s) of ``call`` timed for ``seconds`` after one warm-up."""
    call()
    done, start = 0, time.perf_counter()
    while done < 3 or time.perf_counter() - start < seconds:
        call()
        done += 1
    return flops * done / (time.perf_counter() - start) / 1e9


def fp32_peak(seconds: float) -> float:
    m, k, n = GEMM_SHAPE
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((m, k), np.float32), rng.standard_normal((k, n), np.float32)
    return _rate(lambda: a @ b, 2.0 * m * k * n, seconds)


def int8_peak(seconds: float) -> float:
    """onnxruntime MatMulInteger u8 x s8 -> int32 (what our int8 graphs run on CPU)."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    m, k, n = GEMM_SHAPE
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["a", "b"], ["y"])], "gemm",
        [helper.make_tensor_value_info("a", TensorProto.UINT8, [m, k]),
         helper.make_tensor_value_info("b", TensorProto.INT8, [k, n])],
        [helper.make_tensor_value_info("y", TensorProto.INT32, [m, n])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds = {"a": rng.integers(0, 255, (m, k), dtype=np.uint8),
             "b": rng.integers(-127, 127, (k, n), dtype=np.int8)}
    return _rate(lambda: sess.run(None, feeds), 2.0 * m * k * n, seconds)


def bf16_peak(seconds: float, provider: str = "cpu") -> float:
    import torch

    m, k, n = GEMM_SHAPE
    device = "cuda" if provider == "cuda" and torch.cuda.is_available() else "cpu"
    a = torch.randn(m, k, dtype=torch.bfloat16, device=device)
    b = torch.randn(k, n, dtype=torch.bfloat16, device=device)

    def call():
        a @ b
        if device == "cuda":
            torch.cuda.synchronize()
    return _rate(call, 2.0 * m * k * n, seconds)


def gemm_peaks(seconds: float = 2.0, provider: str = "cpu") -> dict:
    """{fp32, bf16, int8: GFLOP/s or None, skipped: {type: why}, shape}."""
    out: dict = {"shape_mkn": list(GEMM_SHAPE), "seconds_each": seconds, "skipped": {}}
    out["fp32"] = fp32_peak(seconds)
    try:
        out["int8"] = int8_peak(seconds)
    except ImportError as e:
        out["int8"], out["skipped"]["int8"] = None, f"needs onnx to build the graph ({e})"
    if machine.cpu_has_bf16() or provider == "cuda":
        try:
            out["bf16"] = bf16_peak(seconds, provider)
        except ImportError as e:
            out["bf16"], out["skipped"]["bf16"] = None, f"needs torch ({e})"
    else:
        out["bf16"] = None
        out["skipped"]["bf16"] = "no amx_bf16 / avx512_bf16 on this CPU"
    return out


def flops_per_text(arch: dict, tokens: int) -> float:
    """Encoder FLOPs for one text of ``tokens`` tokens (projections, FFN, attention)."""
    layers, h, inter = arch["layers"], arch["hidden"], arch["intermediate"]
    dense = 2.0 * tokens * (4 * h * h + 2 * h * inter)  # Q, K, V, O + FFN up/down
    attention = 4.0 * tokens * tokens * h  # scores + weighted sum
    return layers * (dense + attention)


def achieved(arch: dict | None, peaks: dict, compute: str, fixed: dict | None,
             stream_tokens: list[int] | None, stream_s: float | None) -> dict:
    """Fraction of the peak for ``compute`` at b32 x s128 and on the real (unpadded) stream."""
    peak = peaks.get(compute)
    if not arch or not peak:
        return {}
    out = {"compute": compute, "peak_gflops": peak}
    if fixed:
        rate = 32 * flops_per_text(arch, 128) / (fixed["ms"] / 1000) / 1e9
        out["b32_t128_gflops"], out["b32_t128_fraction"] = rate, rate / peak
    if stream_tokens and stream_s:
        rate = sum(flops_per_text(arch, t) for t in stream_tokens) / stream_s / 1e9
        out["stream_gflops"], out["stream_fraction"] = rate, rate / peak
    return out
