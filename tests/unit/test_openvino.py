"""OpenVINO engine and the auto choice: same labels as onnxruntime fp32, clear errors for a
missing extra or an old version, auto from a stored bench vs a calibration, /readyz says why."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from mlops_dl import machine
from mlops_dl.runtime import auto as choice
from mlops_dl.errors import MlopsError, RegistryError
from mlops_dl.runtime import from_dir, from_registry
from tests.unit.serve_helpers import fresh_registry
from tests.unit.test_runtime import TEXTS, writable_copy

pytest.importorskip("openvino")


@pytest.fixture(scope="module")
def version_dir(tiny_registry):
    from mlops_dl.registry import open_registry
    return open_registry(tiny_registry).get("tiny:1").path


# the tolerance follows the precision the servable computes in (not the file it reads)
TOLERANCE = {"fp32": 1e-4, "bf16": 3e-2, "int8": 0.5}


@pytest.mark.parametrize("variant", ["fp32", "bf16", "int8-static", "int8-nncf"])
def test_openvino_matches_onnxruntime_fp32(version_dir, variant):
    if variant == "bf16" and not machine.cpu_has_bf16():
        pytest.skip("bf16 is forced only where the CPU computes it (AMX / AVX512-BF16)")
    ort = from_dir(version_dir, "cpu", "fp32", name="tiny", version=1)
    ov = from_dir(version_dir, "cpu", variant, name="tiny", version=1, engine="openvino")
    d = ov.describe()
    assert d["engine"] == "openvino" and ov.provider == "OpenVINO-CPU"
    assert d["precision"] == ov.precision == {"fp32": "fp32", "bf16": "bf16"}.get(variant, "int8")
    # what OpenVINO compiled: fp32 and int8 keep f32 for the non-int8 ops, even on a bf16 CPU
    assert ov.session.hint == ("bf16" if variant == "bf16" else "f32")
    np.testing.assert_allclose(ov.logits(TEXTS), ort.logits(TEXTS), atol=TOLERANCE[ov.precision])
    got = ov.predict(TEXTS)
    if variant != "bf16":  # bf16 may flip a near-tie of the random tiny model
        assert [r["label"] for r in got] == [r["label"] for r in ort.predict(TEXTS)]
    assert all((r["model"], r["version"]) == ("tiny", 1) for r in got)
    # input order kept under length sorting: each text alone gives the same row
    alone = np.concatenate([ov.logits([t]) for t in TEXTS])
    np.testing.assert_allclose(ov.logits(TEXTS, batch_size=2), alone, atol=1e-4)


def test_openvino_int8_is_the_nncf_variant(version_dir):
    pred = from_dir(version_dir, "cpu", "int8", engine="openvino")
    assert pred.variant == "int8-nncf" and len(pred.predict(TEXTS)) == len(TEXTS)


def test_bf16_is_refused_where_the_cpu_cannot_compute_it(version_dir, monkeypatch):
    from mlops_dl.runtime import variants

    monkeypatch.setattr(variants, "cpu_has_bf16", lambda: False)
    with pytest.raises(MlopsError, match=r"openvino bf16 \(bf16\) cannot run here: bf16 needs"):
        from_dir(version_dir, "cpu", "bf16", engine="openvino")


def test_openvino_not_installed_is_one_line(version_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino -> ImportError
    with pytest.raises(MlopsError, match=r"mlops-dl\[openvino\]") as err:
        from_dir(version_dir, "cpu", "fp32", engine="openvino")
    assert "\n" not in str(err.value)
    # auto skips the engine and says why
    pred = from_dir(version_dir, "cpu", "auto", engine="auto")
    assert pred.engine == "onnxruntime"
    assert "openvino is not installed" in pred.choice["skipped"]["openvino"]


def test_version_without_openvino_artifact(version_dir, tmp_path, monkeypatch):
    copy = writable_copy(version_dir, tmp_path / "v")
    meta = json.loads((copy / "model.json").read_text())
    del meta["openvino"]  # as exported before this engine existed
    (copy / "model.json").write_text(json.dumps(meta))
    with pytest.raises(RegistryError, match=r"tiny:7 was exported before the OpenVINO.*"
                                            r"mlops-dl export"):
        from_dir(copy, "cpu", "fp32", name="tiny", version=7, engine="openvino")
    monkeypatch.setattr(choice, "CALIBRATION_S", 0.3)
    pred = from_dir(copy, "cpu", "auto", name="tiny", version=7, engine="auto")
    assert pred.engine == "onnxruntime"
    assert "exported before the OpenVINO" in pred.choice["skipped"]["openvino"]
    assert "openvino: tiny:7 was exported before the OpenVINO" in pred.choice["reason"]


def bench_doc(fingerprint: str, fastest: tuple[str, str], rates: dict | None = None,
              tails: dict | None = None) -> dict:
    """A bench.json with every servable of the tiny version (``rates``: {key: texts/s};
    ``tails``: {key: (p50, p99) batch-1 ms}, else 2 ms / 3 ms, and 1 / 1.2 for ``fastest``)."""
    from mlops_dl.runtime.variants import SPECS

    engines = {}
    for s in SPECS:
        key = f"{s.engine}:{s.variant}"
        rate = 900.0 if (s.engine, s.variant) == fastest else 100.0
        rate = (rates or {}).get(key, rate)
        p50, p99 = (tails or {}).get(key, (1.0, 1.2) if (s.engine, s.variant) == fastest
                                     else (2.0, 3.0))
        engines[f"{s.engine}-{s.variant}"] = {
            "runtime": s.engine, "variant": s.variant, "precision": s.precision,
            "stream_sorted": {"sent_per_s": rate},
            "batch1": {"p50_ms": p50, "p95_ms": (p50 + p99) / 2, "p99_ms": p99}}
    return {"hardware": {"fingerprint": fingerprint}, "engines": engines}


def n_candidates() -> int:
    """Batch-invariant servables of the tiny version runnable here (bf16 only on bf16 CPUs)."""
    return 6 + machine.cpu_has_bf16()


def test_auto_choice_stored_bench_vs_calibration(tiny_registry, tmp_path, monkeypatch):
    reg = fresh_registry(tiny_registry, tmp_path / "registry")
    monkeypatch.setattr(choice, "CALIBRATION_S", 0.5)
    reg.attach("tiny:1", "bench.json", bench_doc(machine.fingerprint(), ("openvino", "int8-static")))
    pred = from_registry("tiny:1", reg, "cpu", "auto", engine="auto")
    assert (pred.engine, pred.variant) == ("openvino", "int8-static")
    assert pred.choice["source"] == "bench.json" and "9.00x the next" in pred.choice["reason"]
    assert pred.choice["purpose"] == "throughput"
    # variant auto within one engine reads the same figures
    pred = from_registry("tiny:1", reg, "cpu", "auto", engine="onnxruntime")
    assert pred.engine == "onnxruntime" and pred.choice["source"] == "bench.json"
    # measured on another machine: not trusted, calibrated here instead
    reg.attach("tiny:1", "bench.json", bench_doc("another-machine", ("openvino", "fp32")))
    pred = from_registry("tiny:1", reg, "cpu", "auto", engine="auto")
    assert pred.choice["source"] == "calibration" and "calibration" in pred.choice["reason"]
    assert len(pred.choice["texts_per_s"]) == n_candidates()  # no int8-dynamic, no alias
    best = max(pred.choice["texts_per_s"], key=pred.choice["texts_per_s"].get)
    assert f"{pred.engine}:{pred.variant}" == best


def test_readyz_and_metrics_show_the_choice(tiny_registry, tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    from mlops_dl.config import ServeConfig
    from mlops_dl.serve.app import create_app
    from tests.unit.test_serve_app import wait_ready

    reg = fresh_registry(tiny_registry, tmp_path / "registry")
    reg.attach("tiny:1", "bench.json", bench_doc(machine.fingerprint(), ("openvino", "fp32")))
    cfg = ServeConfig(log_path="", swap_poll_s=0.05, engine="auto", variant="auto")
    with TestClient(create_app(cfg, "tiny@production", registry=str(reg.root))) as client:
        wait_ready(client)
        model = client.get("/readyz").json()["model"]
        assert (model["engine"], model["variant"]) == ("openvino", "fp32")
        assert f"best of {n_candidates()} UNACCEPTED" in model["choice"]["reason"]
        assert model["choice"]["purpose"] == "latency" and "p99" in model["choice"]["criterion"]
        r = client.post("/v1/predict", json={"texts": ["love great"]})
        assert r.status_code == 200 and r.json()["variant"] == "fp32"
        metrics = client.get("/metrics").text
        assert 'chosen_by="bench.json",engine="openvino"' in metrics


def test_bad_engine_and_variant_names(version_dir):
    with pytest.raises(MlopsError, match="engine 'tensorrt'"):
        from_dir(version_dir, "cpu", "fp32", engine="tensorrt")
    with pytest.raises(MlopsError, match="variant 'int4'"):
        from_dir(version_dir, "cpu", "int4", engine="openvino")


def test_cli_openvino_on_an_old_version_is_one_clear_line(version_dir, tmp_path, capsys):
    from mlops_dl.cli import main
    from mlops_dl.registry import open_registry
    bundle = writable_copy(version_dir, tmp_path / "bundle")
    meta = json.loads((bundle / "model.json").read_text())
    del meta["openvino"]
    (bundle / "model.json").write_text(json.dumps(meta))
    (bundle / "checksums.json").unlink()
    open_registry(tmp_path / "registry").register("old", bundle)
    (tmp_path / "in.csv").write_text("text\nlove great\n")
    rc = main(["predict", "old:1", "-r", str(tmp_path / "registry"), "-i", str(tmp_path / "in.csv"),
               "-o", str(tmp_path / "out.csv"), "--engine", "openvino", "--variant", "fp32"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0 and len(err) == 1
    assert "old:1 was exported before the OpenVINO engine" in err[0] and "mlops-dl export" in err[0]


def test_length_buckets_pad_small_batches_and_keep_the_labels(version_dir):
    """serve.openvino_buckets: a one-text call is padded up to a bucket prepared at load (the
    batch-1 tail: no new shape inside a request); large batches pad to their longest; the
    probabilities do not change either way."""
    from mlops_dl.config import ServeConfig
    from mlops_dl.runtime.predictor import BUCKET_ROWS

    plain = from_dir(version_dir, "cpu", "fp32", ServeConfig(openvino_buckets=[]), name="tiny",
                     version=1, engine="openvino")
    bucketed = from_dir(version_dir, "cpu", "fp32", ServeConfig(openvino_buckets=[4, 8]),
                        name="tiny", version=1, engine="openvino")
    assert plain.buckets == () and bucketed.buckets == (4, 8, bucketed.max_length)
    one = bucketed.encode(["love it"])
    assert 4 < len(one[0].ids) <= 8 and bucketed._feeds(one)["input_ids"].shape[1] == 8
    many = bucketed.encode(["love it"] * (BUCKET_ROWS + 1))
    assert bucketed._feeds(many)["input_ids"].shape[1] == len(many[0].ids)  # unpadded
    for texts in (TEXTS[:1], TEXTS[1:2], TEXTS):
        np.testing.assert_allclose(bucketed.predict_proba(texts), plain.predict_proba(texts),
                                   atol=1e-5)
    from mlops_dl.config.coerce import RangeError

    with pytest.raises(RangeError, match=r"openvino_buckets: must be whole lengths >= 1"):
        ServeConfig(openvino_buckets=[0])
