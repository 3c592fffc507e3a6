"""onnxruntime sessions: providers, threads, spinning and graph level from ``ServeConfig``."""

from __future__ import annotations

from pathlib import Path

from mlops_dl.config import ServeConfig
from mlops_dl.errors import MlopsError, RegistryError
from mlops_dl.runtime.variants import PROVIDERS

_OPT_LEVELS = {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC",
               "extended": "ORT_ENABLE_EXTENDED", "all": "ORT_ENABLE_ALL"}


def make_session(model_path: Path, provider: str = "auto", settings: ServeConfig | None = None):
    """An InferenceSession on ``provider`` ("auto" = CUDA when onnxruntime has it, else CPU)."""
    import onnxruntime as ort

    settings = settings or ServeConfig()
    if provider not in PROVIDERS:
        raise MlopsError(f"provider {provider!r}: expected one of {', '.join(PROVIDERS)}")
    available = ort.get_available_providers()
    has_cuda = "CUDAExecutionProvider" in available
    if provider == "cuda" and not has_cuda:
        raise MlopsError(
            f"provider 'cuda' requested but this onnxruntime has no CUDAExecutionProvider "
            f"(available: {', '.join(available)}); install onnxruntime-gpu or use --provider cpu"
        )
    use_cuda = provider == "cuda" or (provider == "auto" and has_cuda)
    opts = ort.SessionOptions()  # settings.graph_optimization: checked by ServeConfig
    opts.graph_optimization_level = getattr(
        ort.GraphOptimizationLevel, _OPT_LEVELS[settings.graph_optimization]
    )
    opts.intra_op_num_threads = max(0, settings.intra_op_threads)
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    spin = "1" if settings.spinning else "0"
    opts.add_session_config_entry("session.intra_op.allow_spinning", spin)
    opts.add_session_config_entry("session.inter_op.allow_spinning", spin)
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if use_cuda else [
        "CPUExecutionProvider"]
    try:
        return ort.InferenceSession(str(model_path), sess_options=opts, providers=providers)
    except Exception as e:  # onnxruntime raises its own Fail/InvalidGraph types
        raise RegistryError(f"cannot load ONNX model {model_path}: {e}") from None
