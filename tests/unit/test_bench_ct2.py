"""The CTranslate2 bench peer: the same function as our onnxruntime fp32 Predictor, batch
invariant, converted once into its cache; planned as a peer row, counted apart from ours."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from mlops_dl.bench import ct2_engine as ct2
from mlops_dl.bench.ratios import ratios
from mlops_dl.bench.run import plan_engines, torch_model_dir
from mlops_dl.registry import open_registry

NOT_INSTALLED = "ctranslate2 not installed (pip install 'mlops-dl[ctranslate2]')"


@pytest.fixture(scope="module")
def tiny(tiny_registry):
    mv = open_registry(tiny_registry).get("tiny:1")
    rows = (mv.path / "eval_samples.jsonl").read_text().splitlines()
    texts = [json.loads(x)["text"] for x in rows]
    return mv, torch_model_dir(mv)[0], texts


@pytest.fixture(scope="module")
def ort_fp32(tiny):
    from mlops_dl.runtime import from_version

    mv, _, texts = tiny
    return from_version(mv, "cpu", "fp32").predict_proba(texts)  # (N, L)


def engine(tiny, cache, compute):
    pytest.importorskip("ctranslate2", reason=NOT_INSTALLED)
    mv, model_dir, _ = tiny
    return ct2.ct2_engine({"path": str(model_dir), "model_version": mv, "cache": str(cache),
                           "compute": compute, "threads": 1})


def test_ct2_fp32_is_our_fp32_function(tiny, ort_fp32, tmp_path):
    """float32 CTranslate2 + the numpy head vs onnxruntime fp32: the same model in fp32, only
    the summation order differs (1e-7 measured), so 1e-5 on every probability."""
    run, run_fixed, info = engine(tiny, tmp_path, "fp32")
    probs = run(tiny[2])  # (N, L)
    assert probs.shape == ort_fp32.shape
    np.testing.assert_allclose(probs, ort_fp32, atol=1e-5)
    assert info["runtime"] == "ctranslate2" and info["compute"] == "fp32"
    assert info["batch_invariant"] is True and info["ct2_threads"] == 1
    run_fixed(4, 16)()
    assert run([]).shape == (0, probs.shape[1])


def test_ct2_int8_keeps_the_labels_and_is_batch_invariant(tiny, ort_fp32, tmp_path):
    """int8 weights and per-row activation scales: every label of fp32 kept on the (confident)
    tiny model, probabilities within 0.02 (1.4e-4 measured; onnxruntime int8-static: 3e-4).
    A text alone or inside any batch: the same probabilities to float rounding (no padding,
    no batch-wide scale), hence batch_invariant."""
    run, _, info = engine(tiny, tmp_path, "int8")
    texts = tiny[2]
    probs = run(texts)  # (N, L)
    assert (probs.argmax(1) == ort_fp32.argmax(1)).all()
    assert np.abs(probs - ort_fp32).max() < 0.02 and info["compute"] == "int8"
    alone = np.concatenate([run([t]) for t in texts])  # (N, L)
    order = np.random.default_rng(0).permutation(len(texts))
    mixed = np.zeros_like(probs)
    for start in range(0, len(texts), 7):
        rows = order[start:start + 7]
        mixed[rows] = run([texts[i] for i in rows])
    np.testing.assert_allclose(alone, probs, atol=1e-5)
    np.testing.assert_allclose(mixed, probs, atol=1e-5)
    assert info["batch_invariant"] is True


def test_conversion_is_cached_and_redone_when_the_weights_change(tiny, tmp_path, monkeypatch):
    pytest.importorskip("ctranslate2", reason=NOT_INSTALLED)
    _, model_dir, _ = tiny
    first = ct2.converted(model_dir, tmp_path, "int8")
    assert (first / "model.bin").is_file() and (first / "source.json").is_file()
    monkeypatch.setattr(ct2, "_convert", lambda *a: pytest.fail("converted again"))
    assert ct2.converted(model_dir, tmp_path, "int8") == first
    stale = json.loads((first / "source.json").read_text())
    (first / "source.json").write_text(json.dumps({**stale, "sha256": "0" * 64}))
    with pytest.raises(pytest.fail.Exception, match="converted again"):
        ct2.converted(model_dir, tmp_path, "int8")


def test_plan_has_a_ct2_row_or_says_why_not(tiny, monkeypatch, tmp_path):
    mv, model_dir, _ = tiny
    monkeypatch.setattr("mlops_dl.bench.run.PEER_DIR", tmp_path)
    engines, skipped, _ = plan_engines(mv, "cpu", True, "onnxruntime", ("eager",),
                                       ("int8", "fp32"))
    if importlib.util.find_spec("ctranslate2") is None:
        assert skipped["ct2-int8"] == f"skipped: {NOT_INSTALLED}"
    else:
        rows = {e["label"]: e for e in engines if e["kind"] == "ct2"}
        assert set(rows) == {"ct2-int8", "ct2-fp32"}
        assert rows["ct2-int8"]["cache"] == str(tmp_path / "ct2-tiny-1")
        assert rows["ct2-int8"]["path"] == str(model_dir)
    _, skipped, _ = plan_engines(mv, "cpu", False, "onnxruntime", (), ("int8",))
    assert skipped["ct2-int8"].startswith("skipped (--no-torch")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "ctranslate2" else real(name, *a))
    _, skipped, _ = plan_engines(mv, "cpu", True, "onnxruntime", (), ("int8",))
    assert skipped["ct2-int8"] == f"skipped: {NOT_INSTALLED}"


def test_a_faster_ct2_row_is_a_peer_not_our_best():
    def eng(p50, sps, **extra):
        return {"batch1": {"p50_ms": p50, "p99_ms": p50 * 1.2}, "stream": {"sent_per_s": sps},
                "stream_sorted": {"sent_per_s": sps}, **extra}

    r = ratios({"pytorch-eager": eng(8.0, 50), "onnx-int8-static": eng(1.0, 400),
                "ct2-int8": eng(2.0, 800), "ct2-fp32": eng(3.0, 300)})
    assert r["best_variant"] == "onnx-int8-static" and r["stream_speedup"] == 8.0
    assert r["best_ct2"] == "ct2-int8" and r["ct2_vs_ours"] == 2.0
    assert r["ct2_b1_p50_vs_ours"] == 0.5
    assert "ct2_vs_ours" not in ratios({"onnx-fp32": eng(1.0, 100), "ct2-int8": {"skipped": "x"}})
