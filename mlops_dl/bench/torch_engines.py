"""The PyTorch baselines, each built inside its own engine process (torch is imported only here):
eager fp32 as a user runs it, eager under ``torch.autocast`` bf16 (only where the hardware
computes bf16: AMX / AVX512-BF16 CPUs or CUDA), ``torch.compile`` of the eager model, and
``torch.compile`` under bf16 autocast: the best a PyTorch user writes in a few lines. Every kind
runs under ``torch.inference_mode()``."""

from __future__ import annotations

import contextlib

import numpy as np

from mlops_dl import machine

KINDS = ("eager", "bf16", "compile", "bf16-compile")
BF16_KINDS = ("bf16", "bf16-compile")  # autocast bf16: skipped where the hardware lacks it
COMPILED = ("compile", "bf16-compile")  # torch.compile(dynamic=True), warmed up in load


def bf16_unsupported(provider: str) -> str:
    """'' when bf16 autocast is worth measuring here, else why it is skipped."""
    if provider == "cuda":
        return ""
    if machine.cpu_has_bf16():
        return ""
    return (f"skipped: this CPU has no {' / '.join(machine.BF16_FLAGS)} (bf16 would be emulated "
            f"in fp32 and only slower); measured on AMX/AVX512-BF16 CPUs or CUDA")


def kind_unsupported(kind: str, provider: str) -> str:
    """'' when the PyTorch ``kind`` is measured here, else why it is skipped."""
    return bf16_unsupported(provider) if kind in BF16_KINDS else ""


def torch_engine(engine: dict):
    """(run, run_fixed, info) for PyTorch eager / bf16 / compile / bf16-compile."""
    import torch
    import transformers
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    transformers.utils.logging.disable_progress_bar()
    kind = engine.get("torch", "eager")
    device = "cuda" if engine.get("provider") == "cuda" and torch.cuda.is_available() else "cpu"
    tok = AutoTokenizer.from_pretrained(engine["path"])
    model = AutoModelForSequenceClassification.from_pretrained(engine["path"]).eval().to(device)
    forward = torch.compile(model, dynamic=True) if kind in COMPILED else model
    max_length = engine["max_length"]

    @contextlib.contextmanager
    def context():
        with torch.inference_mode(), (torch.autocast(device, dtype=torch.bfloat16)
                                      if kind in BF16_KINDS else contextlib.nullcontext()):
            yield

    def run(texts: list[str]) -> np.ndarray:
        enc = tok(texts, padding=True, truncation=True, max_length=max_length,
                  return_tensors="pt").to(device)
        with context():
            logits = forward(**enc).logits  # (B, L)
            return torch.softmax(logits.float(), dim=-1).cpu().numpy()

    def run_fixed(b: int, t: int):
        from mlops_dl.bench.engines import fixed_ids

        ids = torch.from_numpy(fixed_ids(b, t, model.config.vocab_size)).to(device)  # (B, T)
        mask, types = torch.ones_like(ids), torch.zeros_like(ids)

        def call():
            with context():
                forward(input_ids=ids, attention_mask=mask, token_type_ids=types)
            if device == "cuda":
                torch.cuda.synchronize()
        return call

    if kind in COMPILED:  # compile now, so load_s holds the compile time: dynamic shapes
        run(["warm up the compiled graph", "a second, longer text to warm up dynamic shapes"])
        run(["batch 1"])  # dynamic=True still specializes a dimension of size 1
    info = {"provider": f"torch-{device}", "torch": torch.__version__, "runtime": "pytorch",
            "variant": kind, "compute": "bf16" if kind in BF16_KINDS else "fp32",
            "transformers": transformers.__version__, "torch_threads": torch.get_num_threads()}
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
    return run, run_fixed, info
