"""An OpenVINO CPU model behind the small session surface the Predictor uses (run, inputs,
providers), so tokenizing, length-sorted batching and result order stay one code path.

Precision is the servable's: ``fp32`` and the int8 variants compile with the f32 inference
precision hint (OpenVINO would otherwise run every non-int8 op in bf16 on a CPU with AMX or
AVX512-BF16), ``bf16`` with the bf16 hint. OpenVINO is the optional extra ``openvino``; without
it this is a one-line MlopsError.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlops_dl.errors import MlopsError, RegistryError

INSTALL_HINT = "pip install 'mlops-dl[openvino]'"


def import_openvino():
    """The openvino module, or a one-line error naming the extra to install."""
    try:
        import openvino
    except ImportError:
        raise MlopsError(f"openvino is not installed: engine 'openvino' needs the openvino extra: "
                          f"{INSTALL_HINT}") from None
    return openvino


HINTS = {"fp32": "f32", "int8": "f32", "bf16": "bf16"}  # servable precision -> OpenVINO hint


def precision_hint(precision: str) -> str:
    """OpenVINO's INFERENCE_PRECISION_HINT for a servable's precision."""
    if precision not in HINTS:
        raise MlopsError(f"openvino precision {precision!r}: expected one of {', '.join(HINTS)}")
    return HINTS[precision]


@dataclass(frozen=True)
class _Input:
    name: str


class OpenVinoSession:
    """A compiled OpenVINO CPU model; ``run(["logits"], feeds)`` like an InferenceSession."""

    def __init__(self, model_path: Path, threads: int = 0, precision: str = "fp32",
                 buckets: tuple[int, ...] = (), properties: dict | None = None):
        ov = import_openvino()
        self.precision = precision
        self.buckets = tuple(sorted(buckets))  # the Predictor pads each batch up to one of these
        config = {"INFERENCE_PRECISION_HINT": precision_hint(precision), "PERFORMANCE_HINT": "LATENCY",
                  "NUM_STREAMS": 1}
        if threads > 0:
            config["INFERENCE_NUM_THREADS"] = threads
        config.update(properties or {})
        try:
            compiled = ov.Core().compile_model(str(model_path), "CPU", config)
        except Exception as e:  # OpenVINO raises RuntimeError with a long multi-line text
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise RegistryError(f"cannot load {model_path} with OpenVINO: {first}") from None
        self._compiled = compiled
        hint = compiled.get_property("INFERENCE_PRECISION_HINT")  # what was compiled: f32/bf16
        self.hint = hint.to_string() if hasattr(hint, "to_string") else str(hint)
        self._request = compiled.create_infer_request()
        self._output = compiled.output("logits")
        self._inputs = [_Input(i.get_any_name()) for i in compiled.inputs]
        self._lock = threading.Lock()  # one infer request: one call at a time
        self.version = ov.__version__
        for width in self.buckets:  # each padded length prepared now, not in a request
            self.run(["logits"], {i.name: np.ones((1, width), dtype=np.int64)
                                  for i in self._inputs})

    def get_inputs(self) -> list[_Input]:
        return list(self._inputs)

    def get_providers(self) -> list[str]:
        return ["OpenVINO-CPU"]

    def run(self, outputs: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Logits for one padded batch. feeds: each (B, T) int64 -> [(B, L) float32]"""
        with self._lock:
            result = self._request.infer(feeds, share_inputs=True)
            return [np.array(result[self._output], dtype=np.float32, copy=True)]
