"""OpenVINO engine and the auto choice: same labels as onnxruntime fp32, clear errors for a
missing extra or an old version, auto from a stored bench vs a calibration, /readyz says why."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from mlops_dl import choice, machine
from mlops_dl.errors import MlopsError, RegistryError
from mlops_dl.runtime import Predictor
from tests.unit.serve_helpers import fresh_registry
from tests.unit.test_runtime import TEXTS, writable_copy

pytest.importorskip("openvino")


@pytest.fixture(scope="module")
def version_dir(tiny_registry):
    from mlops_dl.registry import Registry

    return Registry(tiny_registry).get("tiny:1").path


@pytest.mark.parametrize("variant,atol", [("fp32", 1e-4), ("int8-static", 0.5),
                                          ("int8-nncf", 0.5)])
def test_openvino_matches_onnxruntime_fp32(version_dir, variant, atol):
    ort = Predictor.from_dir(version_dir, "cpu", "fp32", name="tiny", version=1)
    ov = Predictor.from_dir(version_dir, "cpu", variant, name="tiny", version=1,
                            engine="openvino")
    assert ov.describe()["engine"] == "openvino" and ov.provider == "OpenVINO-CPU"
    assert ov.describe()["precision"] == ("bf16" if machine.cpu_has_bf16() else "f32")
    np.testing.assert_allclose(ov.logits(TEXTS), ort.logits(TEXTS), atol=atol)
    got = ov.predict(TEXTS)
    assert [r["label"] for r in got] == [r["label"] for r in ort.predict(TEXTS)]
    assert all((r["model"], r["version"]) == ("tiny", 1) for r in got)
    # input order kept under length sorting: each text alone gives the same row
    alone = np.concatenate([ov.logits([t]) for t in TEXTS])
    np.testing.assert_allclose(ov.logits(TEXTS, batch_size=2), alone, atol=1e-4)


def test_openvino_int8_is_the_nncf_variant(version_dir):
    pred = Predictor.from_dir(version_dir, "cpu", "int8", engine="openvino")
    assert pred.variant == "int8" and len(pred.predict(TEXTS)) == len(TEXTS)


def test_openvino_not_installed_is_one_line(version_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino -> ImportError
    with pytest.raises(MlopsError, match=r"mlops-dl\[openvino\]") as err:
        Predictor.from_dir(version_dir, "cpu", "fp32", engine="openvino")
    assert "\n" not in str(err.value)
    # auto skips the engine and says why
    pred = Predictor.from_dir(version_dir, "cpu", "auto", engine="auto")
    assert pred.engine == "onnxruntime"
    assert "openvino is not installed" in pred.choice["skipped"]["openvino"]


def test_version_without_openvino_artifact(version_dir, tmp_path, monkeypatch):
    copy = writable_copy(version_dir, tmp_path / "v")
    meta = json.loads((copy / "model.json").read_text())
    del meta["openvino"]  # as exported before this engine existed
    (copy / "model.json").write_text(json.dumps(meta))
    with pytest.raises(RegistryError, match=r"tiny:7 was exported before the OpenVINO.*"
                                            r"mlops-dl export"):
        Predictor.from_dir(copy, "cpu", "fp32", name="tiny", version=7, engine="openvino")
    monkeypatch.setattr(choice, "CALIBRATION_S", 0.3)
    pred = Predictor.from_dir(copy, "cpu", "auto", name="tiny", version=7, engine="auto")
    assert pred.engine == "onnxruntime"
    assert "exported before the OpenVINO" in pred.choice["skipped"]["openvino"]
    assert "skipped openvino" in pred.choice["reason"]


def bench_doc(fingerprint: str, fastest: tuple[str, str]) -> dict:
    engines = {}
    for runtime, variant in [("onnxruntime", "fp32"), ("onnxruntime", "int8"),
                             ("onnxruntime", "int8-static"), ("onnxruntime", "int8-nncf"),
                             ("openvino", "fp32"), ("openvino", "int8-static"),
                             ("openvino", "int8-nncf")]:
        rate = 900.0 if (runtime, variant) == fastest else 100.0
        engines[f"{runtime}-{variant}"] = {"runtime": runtime, "variant": variant,
                                           "stream_sorted": {"sent_per_s": rate}}
    return {"hardware": {"fingerprint": fingerprint}, "engines": engines}


def test_auto_choice_stored_bench_vs_calibration(tiny_registry, tmp_path, monkeypatch):
    reg = fresh_registry(tiny_registry, tmp_path / "registry")
    monkeypatch.setattr(choice, "CALIBRATION_S", 0.5)
    reg.attach("tiny:1", "bench.json", bench_doc(machine.fingerprint(), ("openvino", "int8-static")))
    pred = Predictor.from_registry("tiny:1", reg, "cpu", "auto", engine="auto")
    assert (pred.engine, pred.variant) == ("openvino", "int8-static")
    assert pred.choice["source"] == "bench.json" and "9.00x the next" in pred.choice["reason"]
    # variant auto within one engine reads the same figures
    pred = Predictor.from_registry("tiny:1", reg, "cpu", "auto", engine="onnxruntime")
    assert pred.engine == "onnxruntime" and pred.choice["source"] == "bench.json"
    # measured on another machine: not trusted, calibrated here instead
    reg.attach("tiny:1", "bench.json", bench_doc("another-machine", ("openvino", "fp32")))
    pred = Predictor.from_registry("tiny:1", reg, "cpu", "auto", engine="auto")
    assert pred.choice["source"] == "calibration" and "calibration" in pred.choice["reason"]
    assert len(pred.choice["texts_per_s"]) == 7  # 4 onnxruntime + 3 OpenVINO files, no alias
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
        assert "fastest of 7 gated candidates" in model["choice"]["reason"]
        r = client.post("/v1/predict", json={"texts": ["love great"]})
        assert r.status_code == 200 and r.json()["variant"] == "fp32"
        metrics = client.get("/metrics").text
        assert 'chosen_by="bench.json",engine="openvino"' in metrics


def test_bad_engine_and_variant_names(version_dir):
    with pytest.raises(MlopsError, match="engine 'tensorrt'"):
        Predictor.from_dir(version_dir, "cpu", "fp32", engine="tensorrt")
    with pytest.raises(MlopsError, match="variant 'int4'"):
        Predictor.from_dir(version_dir, "cpu", "int4", engine="openvino")


def test_cli_openvino_on_an_old_version_is_one_clear_line(version_dir, tmp_path, capsys):
    from mlops_dl.cli import main
    from mlops_dl.registry import Registry

    bundle = writable_copy(version_dir, tmp_path / "bundle")
    meta = json.loads((bundle / "model.json").read_text())
    del meta["openvino"]
    (bundle / "model.json").write_text(json.dumps(meta))
    (bundle / "checksums.json").unlink()
    Registry(tmp_path / "registry").register("old", bundle)
    (tmp_path / "in.csv").write_text("text\nlove great\n")
    rc = main(["predict", "old:1", "-r", str(tmp_path / "registry"), "-i", str(tmp_path / "in.csv"),
               "-o", str(tmp_path / "out.csv"), "--engine", "openvino", "--variant", "fp32"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0 and len(err) == 1
    assert "old:1 was exported before the OpenVINO engine" in err[0] and "mlops-dl export" in err[0]
