"""Static int8 (QDQ) export: calibrated on training texts, deterministic, batch-independent,
stored for onnxruntime and OpenVINO, and left out (figures in the log) when it fails the gate."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlops_dl.export import quantize
from mlops_dl.export import run as export_mod
from mlops_dl.registry import open_registry
from mlops_dl.runtime import from_version
from mlops_dl.runtime.variants import FILES
from tests.unit.test_runtime import TEXTS


@pytest.fixture(scope="module")
def version(tiny_registry):
    return open_registry(tiny_registry).get("tiny:1")


def test_static_and_nncf_variants_registered_and_checksummed(version):
    meta = version.meta
    assert meta["variants"]["int8-static"] == FILES["int8-static"]
    assert meta["openvino"]["fp32"] == FILES["fp32-plain"]
    assert set(meta["openvino"]) >= {"fp32", "int8-static"}
    sums = json.loads((version.path / "checksums.json").read_text())
    listed = json.dumps(sums)
    for name in (FILES["int8-static"], FILES["fp32-plain"]):
        assert name in listed
    validation = json.loads((version.path / "validation.json").read_text())
    static = validation["variants"]["int8-static"]
    assert static["passed"] and static["graph"]["quantization"]["method"] == "static-qdq"
    assert len(static["graph"]["quantization"]["fp32_nodes"]) == 2  # FFN down of 2 layers
    ops = static["graph"]["op_types"]
    assert ops.get("QuantizeLinear", 0) > 0 and ops.get("DequantizeLinear", 0) > 0
    assert "com.microsoft" not in json.dumps(validation["graphs"]["exported"]["op_types"])
    assert meta["architecture"]["layers"] == 2


def test_static_int8_is_deterministic_and_batch_independent(version, tmp_path):
    plain = version.path / FILES["fp32-plain"]
    rng = np.random.default_rng(0)
    feeds = [{"input_ids": rng.integers(5, 100, (4, 12)).astype(np.int64),
              "token_type_ids": np.zeros((4, 12), np.int64),
              "attention_mask": np.ones((4, 12), np.int64)} for _ in range(3)]
    quantize.quantize_static_int8(plain, tmp_path / "a.onnx", feeds)
    quantize.quantize_static_int8(plain, tmp_path / "b.onnx", feeds)
    assert (tmp_path / "a.onnx").read_bytes() == (tmp_path / "b.onnx").read_bytes()
    pred = from_version(version, "cpu", "int8-static")
    together = pred.logits(TEXTS)  # (N, L)
    alone = np.concatenate([pred.logits([t]) for t in TEXTS])  # (N, L)
    np.testing.assert_allclose(together, alone, atol=1e-5)  # fixed scales: no batch effect


def _broken_static(real):
    """A static quantizer whose output always says class 0 (a broken calibration)."""
    def broken(src, dst, feeds, per_channel=True, fp32_ffn_down=True):
        import onnx
        from onnx import helper, numpy_helper

        how = real(src, dst, feeds, per_channel, fp32_ffn_down)
        model = onnx.load(str(dst))
        for node in model.graph.node:  # logits = raw logits + [1e4, 0, ...]
            node.output[:] = ["logits_raw" if o == "logits" else o for o in node.output]
        width = model.graph.output[0].type.tensor_type.shape.dim[1].dim_value or 3
        shift = np.zeros(width, np.float32)
        shift[0] = 1e4
        model.graph.initializer.append(numpy_helper.from_array(shift, "broken_shift"))
        model.graph.node.append(helper.make_node("Add", ["logits_raw", "broken_shift"],
                                                 ["logits"]))
        onnx.save(model, str(dst))
        return how
    return broken


def test_static_int8_failing_the_gate_is_not_registered(tiny_run_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(quantize, "quantize_static_int8",
                        _broken_static(quantize.quantize_static_int8))
    messages = []
    result = export_mod.export_run(
        tiny_run_dir, name="tiny", registry=tmp_path / "registry", log=messages.append,
        overrides=["export.int8_nncf=false", "export.max_f1_drop=5"])
    meta = result.version.meta
    assert "int8-static" not in meta["variants"] and "int8-static" not in meta["openvino"]
    assert not (result.version.path / FILES["int8-static"]).exists()
    assert {"fp32", "int8"} <= set(meta["variants"])  # the rest is registered
    why = result.validation["dropped"]["int8-static"]
    assert "macro-F1" in why and "-export.max_f1_drop (-5.00 pts" in why
    assert any(m.startswith("int8-static not registered: ") for m in messages)
