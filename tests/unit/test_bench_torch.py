"""The PyTorch baselines of `mlops-dl bench`: which kinds are planned (bf16 ones only where the
hardware computes bf16, else skipped with why), and every kind gives eager's labels."""

from __future__ import annotations

import pytest

from mlops_dl import machine
from mlops_dl.bench.run import OPTS, plan_engines
from mlops_dl.bench.torch_engines import KINDS
from tests.fixtures.make_tiny import make_rows
from tests.unit.serve_helpers import torch_model_dir


def test_every_kind_is_benched_by_default():
    assert OPTS["pytorch"] == list(KINDS) and "bf16-compile" in KINDS


@pytest.mark.parametrize("has_bf16", [True, False])
def test_bf16_kinds_planned_where_bf16_is_native_else_skipped_with_why(
        tiny_registry, monkeypatch, has_bf16):
    from mlops_dl.registry import open_registry

    monkeypatch.setattr(machine, "cpu_has_bf16", lambda: has_bf16)
    mv = open_registry(tiny_registry).get("tiny:1")
    engines, skipped, status = plan_engines(mv, "cpu", True, "onnxruntime")
    planned = {e["torch"]: e for e in engines if e["kind"] == "pytorch"}
    assert status == "measured"
    if has_bf16:
        assert set(planned) == set(KINDS) and not any(k.startswith("pytorch-") for k in skipped)
        assert planned["bf16-compile"]["label"] == "pytorch-bf16-compile"
    else:
        assert set(planned) == {"eager", "compile"}
        for label in ("pytorch-bf16", "pytorch-bf16-compile"):
            assert "avx512_bf16" in skipped[label] and skipped[label].startswith("skipped")
    cuda, cuda_skips, _ = plan_engines(mv, "cuda", True, "onnxruntime")  # CUDA computes bf16
    assert {e["torch"] for e in cuda if e["kind"] == "pytorch"} == set(KINDS)


def _labels_and_compute(model_dir, kinds: list[str]) -> dict[str, tuple[list[int], str]]:
    from mlops_dl.bench.torch_engines import torch_engine

    texts = [t for t, _ in make_rows(24, seed=3)]
    out = {}
    for kind in kinds:
        run, run_fixed, info = torch_engine({"path": str(model_dir), "torch": kind,
                                             "max_length": 32, "provider": "cpu"})
        run_fixed(2, 8)()  # the fixed-shape call runs too
        out[kind] = run(texts).argmax(-1).tolist(), info["compute"]
    return out


def _check_same_labels(out: dict) -> None:
    eager = out["eager"][0]
    for kind, (labels, compute) in out.items():
        assert compute == ("bf16" if kind.startswith("bf16") else "fp32")
        agree = sum(a == b for a, b in zip(labels, eager)) / len(eager)
        assert agree >= (1.0 if compute == "fp32" else 0.95), (kind, labels, eager)


def test_eager_and_bf16_give_eager_labels(tiny_registry):
    kinds = ["eager", "bf16"] if machine.cpu_has_bf16() else ["eager"]
    _check_same_labels(_labels_and_compute(torch_model_dir(tiny_registry), kinds))


def test_compiled_kinds_give_eager_labels(tiny_registry):
    """torch.compile fp32 and under bf16 autocast (inductor: ~30 s cold on 2 cores)."""
    kinds = ["eager", "compile"] + (["bf16-compile"] if machine.cpu_has_bf16() else [])
    _check_same_labels(_labels_and_compute(torch_model_dir(tiny_registry), kinds))
