"""`train.precision: auto`: bf16-mixed where the hardware computes bf16 natively (a CUDA GPU
with bf16, or a CPU with AMX / AVX512-BF16), else 32-true. bf16 on a CPU without those units
is emulated and measured ~10x slower than fp32 (README, bench-train), so auto never picks it."""

from __future__ import annotations

from mlops_dl import machine


def resolve_precision(precision: str, accelerator: str) -> tuple[str, str]:
    """(Lightning precision, why) for ``train.precision`` and ``train.accelerator``."""
    if precision != "auto":
        return precision, "train.precision"
    gpu = accelerator in ("gpu", "cuda", "auto") and _cuda_bf16()
    if gpu:
        return "bf16-mixed", "auto: the GPU supports bf16"
    if accelerator in ("cpu", "auto") and machine.cpu_has_bf16():
        flags = [f for f in machine.BF16_FLAGS if f in machine.cpu_flags()]
        return "bf16-mixed", f"auto: the CPU has {' '.join(flags)}"
    return "32-true", "auto: no bf16 units (no CUDA bf16 GPU, no amx_bf16/avx512_bf16 CPU)"


def _cuda_bf16() -> bool:
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
