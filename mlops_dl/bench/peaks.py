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


def _onnx_gemm(quantized: bool):
    """One (M x K) @ (K x N) graph: fp32 MatMul, or QDQ int8 (Q/DQ around the MatMul, the
    form our static int8 files take) for engines that fuse it into an int8 GEMM."""
    from onnx import TensorProto, helper, numpy_helper

    m, k, n = GEMM_SHAPE
    rng = np.random.default_rng(0)
    w = rng.standard_normal((k, n)).astype(np.float32)
    if not quantized:
        inits = [numpy_helper.from_array(w, "w")]
        nodes = [helper.make_node("MatMul", ["a", "w"], ["y"])]
    else:
        inits = [numpy_helper.from_array(np.clip(w * 40, -127, 127).astype(np.int8), "wq"),
                 numpy_helper.from_array(np.array(0.025, np.float32), "ws"),
                 numpy_helper.from_array(np.array(0, np.int8), "wz"),
                 numpy_helper.from_array(np.array(0.05, np.float32), "as"),
                 numpy_helper.from_array(np.array(128, np.uint8), "az")]
        nodes = [helper.make_node("QuantizeLinear", ["a", "as", "az"], ["aq"]),
                 helper.make_node("DequantizeLinear", ["aq", "as", "az"], ["adq"]),
                 helper.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["wdq"]),
                 helper.make_node("MatMul", ["adq", "wdq"], ["y"])]
    graph = helper.make_graph(nodes, "gemm", [helper.make_tensor_value_info(
        "a", TensorProto.FLOAT, [m, k])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, [m, n])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def openvino_peak(seconds: float, compute: str) -> float:
    """OpenVINO CPU (oneDNN) on the same GEMM: f32, bf16 (precision hint) or QDQ int8."""
    import openvino as ov

    m, k, n = GEMM_SHAPE
    core = ov.Core()
    model = core.read_model(_onnx_gemm(compute == "int8").SerializeToString(), b"")
    hint = "bf16" if compute == "bf16" else "f32"
    compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": hint,
                                                 "PERFORMANCE_HINT": "LATENCY"})
    request = compiled.create_infer_request()
    a = np.random.default_rng(0).standard_normal((m, k)).astype(np.float32)
    return _rate(lambda: request.infer({0: a}), 2.0 * m * k * n, seconds)


def ort_fp32_peak(seconds: float) -> float:
    import onnxruntime as ort

    m, k, n = GEMM_SHAPE
    sess = ort.InferenceSession(_onnx_gemm(False).SerializeToString(),
                                providers=["CPUExecutionProvider"])
    a = np.random.default_rng(0).standard_normal((m, k)).astype(np.float32)
    return _rate(lambda: sess.run(None, {"a": a}), 2.0 * m * k * n, seconds)


def _candidates(provider: str) -> dict[str, dict]:
    """{compute: {engine: rate()}} of every GEMM this machine can time."""
    out = {"fp32": {"numpy": fp32_peak, "onnxruntime": ort_fp32_peak,
                    "openvino": lambda s: openvino_peak(s, "fp32")},
           "int8": {"onnxruntime": int8_peak, "openvino": lambda s: openvino_peak(s, "int8")},
           "bf16": {}}
    if machine.cpu_has_bf16() or provider == "cuda":
        out["bf16"] = {"torch": lambda s: bf16_peak(s, provider),
                       "openvino": lambda s: openvino_peak(s, "bf16")}
    return out


def gemm_peaks(seconds: float = 2.0, provider: str = "cpu") -> dict:
    """{fp32, bf16, int8: the best GEMM GFLOP/s (GOP/s) of any engine here, or None;
    by_engine: {compute: {engine: rate}}, source: {compute: engine}, skipped: {what: why}}."""
    out: dict = {"shape_mkn": list(GEMM_SHAPE), "seconds_each": seconds, "skipped": {},
                 "by_engine": {}, "source": {}}
    for compute, engines in _candidates(provider).items():
        rates = {}
        for engine, rate in engines.items():
            try:
                rates[engine] = rate(seconds)
            except ImportError as e:
                out["skipped"][f"{compute}:{engine}"] = f"not installed ({e})"
            except Exception as e:  # an engine that cannot build this GEMM: said, not fatal
                out["skipped"][f"{compute}:{engine}"] = f"{type(e).__name__}: {str(e)[:200]}"
        out["by_engine"][compute] = rates
        best = max(rates, key=rates.get) if rates else None
        out[compute], out["source"][compute] = (rates[best], f"gemm:{best}") if best else (None, None)
    if not out["by_engine"]["bf16"]:
        out["skipped"]["bf16"] = "no amx_bf16 / avx512_bf16 on this CPU"
    return out


def fold_in(peaks: dict, compute: str, rate: float | None, engine: str) -> None:
    """Raise ``peaks[compute]`` to a rate an engine's whole model reached at a fixed shape, so
    the peak is the best rate any engine demonstrated here and no share exceeds 100 %."""
    if rate and compute in ("fp32", "bf16", "int8") and rate > (peaks.get(compute) or 0.0):
        peaks[compute], peaks.setdefault("source", {})[compute] = rate, f"model:{engine}"


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
