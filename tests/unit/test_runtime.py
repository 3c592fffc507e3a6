"""Predictor: agreement with PyTorch, order under length sorting, truncation, error paths."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from mlops_dl.errors import MlopsError, RegistryError
from mlops_dl.config import ServeConfig
from mlops_dl.errors import ConfigError
from mlops_dl.runtime import from_dir, from_registry, Predictor
from tests.unit.serve_helpers import torch_model_dir

TEXTS = [
    "love great",
    "the meeting is at noon today and the report is on the bus station " * 3,
    "hate",
    "awesome coffee service team weather phone",
    "",
    "sad bad worst terrible horrible angry " * 20,  # truncated to max_length
]


@pytest.fixture(scope="module")
def version_dir(tiny_registry):
    """The version dir of the shared tiny:1 (fused fp32 + int8)."""
    from mlops_dl.registry import open_registry
    return open_registry(tiny_registry).get("tiny:1").path


def writable_copy(src, dst):
    shutil.copytree(src, dst)
    for p in [dst, *dst.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    return dst


def torch_logits(model_dir, texts, max_length):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    enc = tok(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    with torch.no_grad():
        return model(**enc).logits.numpy()  # (N, L)


def test_fp32_agrees_with_pytorch(tiny_registry):
    pred = from_registry("tiny:1", tiny_registry, provider="cpu", variant="fp32")
    assert (pred.model_name, pred.version, pred.variant) == ("tiny", 1, "fp32")
    got = pred.logits(TEXTS)
    want = torch_logits(torch_model_dir(tiny_registry), TEXTS, pred.max_length)
    np.testing.assert_allclose(got, want, atol=1e-4)
    assert [r["label"] for r in pred.predict(TEXTS)] == [
        pred.labels[i] for i in want.argmax(axis=1)]


def test_from_registry_alias_and_tamper(tiny_registry, tmp_path):
    from tests.unit.serve_helpers import fresh_registry

    reg = fresh_registry(tiny_registry, tmp_path / "reg", versions=2)
    reg.promote("tiny:2", "production")
    pred = from_registry("tiny@production", reg)
    assert pred.version == 2 and pred.predict(["love"])[0]["version"] == 2
    onnx = reg.get("tiny:1").path / "model.int8.onnx"
    onnx.chmod(0o644)
    onnx.write_bytes(onnx.read_bytes()[:-10])
    with pytest.raises(RegistryError):
        from_registry("tiny:1", reg)


def test_int8_close_to_fp32(version_dir):
    fp32 = from_dir(version_dir, provider="cpu", variant="fp32").predict_proba(TEXTS)
    int8 = from_dir(version_dir, provider="cpu", variant="int8").predict_proba(TEXTS)
    assert np.abs(fp32 - int8).max() < 0.1


@pytest.mark.parametrize("batch_size", [1, 2, 4, 64])
def test_order_preserved_under_length_sorting(version_dir, batch_size):
    pred = from_dir(version_dir, provider="cpu", variant="fp32")
    one_by_one = np.concatenate([pred.logits([t]) for t in TEXTS])
    batched = pred.logits(TEXTS, batch_size=batch_size)
    np.testing.assert_allclose(batched, one_by_one, atol=1e-4)
    reversed_ = pred.logits(TEXTS[::-1], batch_size=batch_size)
    np.testing.assert_allclose(reversed_[::-1], one_by_one, atol=1e-4)


def test_result_shape_names_version(version_dir):
    pred = from_dir(version_dir, provider="cpu", variant="int8", name="tiny", version=3)
    results = pred.predict(["love great", "hate"])
    assert len(results) == 2
    for r in results:
        assert r["model"] == "tiny" and r["version"] == 3
        assert set(r["probabilities"]) == {"negative", "neutral", "positive"}
        assert abs(sum(r["probabilities"].values()) - 1) < 1e-6
        assert r["score"] == max(r["probabilities"].values())
        assert r["label"] in r["probabilities"]
    assert pred.predict([]) == []


def test_truncates_to_model_max_length(version_dir):
    pred = from_dir(version_dir, provider="cpu", variant="fp32")
    enc = pred.encode(["word " * 1000])
    assert len(enc[0].ids) == pred.max_length
    assert pred.predict(["word " * 1000])[0]["label"]


@pytest.mark.parametrize("spinning", [False, True])
def test_session_settings_apply(version_dir, spinning):
    settings = ServeConfig(intra_op_threads=1, spinning=spinning, graph_optimization="basic",
                           max_batch_size=2)
    pred = from_dir(version_dir, provider="cpu", variant="int8", settings=settings)
    assert pred.describe()["spinning"] is spinning and pred.describe()["graph_optimization"] == "basic"
    assert pred.settings.max_batch_size == 2 and len(pred.predict(TEXTS)) == len(TEXTS)


@pytest.mark.parametrize("kwargs,match", [
    ({"graph_optimization": "max"}, r"graph_optimization: expected one of 'disable'"),
    ({"variant": "fp16"}, r"variant: expected one of 'int8', 'fp32', 'bf16', 'int8-static', 'int8-nncf', 'int8-dynamic', 'auto', got 'fp16'"),
    ({"max_batch_size": 0}, r"max_batch_size: must be >= 1, got 0"),
    ({"max_batch_tokens": -5}, r"max_batch_tokens: must be >= 0 \(0 = fixed batches\), got -5"),
])  # fmt: skip
def test_session_settings_are_validated_once_by_serve_config(kwargs, match):
    """The runtime takes ServeConfig: a bad value fails when the settings are made, in code too."""
    with pytest.raises(ConfigError, match=match):
        ServeConfig(**kwargs)


def test_missing_variant_names_what_exists(version_dir, tmp_path):
    """A variant the version lacks is an error naming what it has, never a silent fp32."""
    copy = writable_copy(version_dir, tmp_path / "v")
    meta = json.loads((copy / "model.json").read_text())
    for key in ("int8", "int8-static", "int8-nncf"):
        (copy / meta["variants"].pop(key)).unlink()
    (copy / "model.json").write_text(json.dumps(meta))
    with pytest.raises(RegistryError, match=r"no batch-invariant int8 variant .*has: fp32\)"):
        from_dir(copy, variant="int8")
    with pytest.raises(RegistryError, match=r"no 'int8-dynamic' variant for onnxruntime \(has: fp32\)"):
        from_dir(copy, variant="int8-dynamic")


def test_bad_arguments_and_files(version_dir, tmp_path):
    with pytest.raises(MlopsError, match="variant 'fp16'"):
        from_dir(version_dir, variant="fp16")
    with pytest.raises(MlopsError, match="provider 'tpu'"):
        from_dir(version_dir, provider="tpu", variant="fp32")
    with pytest.raises(RegistryError, match="no model.json"):
        from_dir(tmp_path)
    copy = writable_copy(version_dir, tmp_path / "v")
    (copy / "model.onnx").write_bytes(b"not onnx")
    with pytest.raises(RegistryError, match="cannot load ONNX model"):
        from_dir(copy, variant="fp32")
    meta = json.loads((copy / "model.json").read_text())
    del meta["labels"]
    (copy / "model.json").write_text(json.dumps(meta))
    with pytest.raises(RegistryError, match="missing key 'labels'"):
        from_dir(copy, variant="fp32")


def test_cuda_requested_without_cuda_is_clear(version_dir):
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    with pytest.raises(MlopsError, match="no CUDAExecutionProvider"):
        from_dir(version_dir, provider="cuda", variant="fp32")
