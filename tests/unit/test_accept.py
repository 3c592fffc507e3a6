"""`accept` and `promote` on the tiny registered model: pass/fail, storage, the champion gate."""

from __future__ import annotations

import json
import shutil

import pytest

from mlops_dl.gates.accept import accept
from mlops_dl.gates.canvas import load_canvas
from mlops_dl.cli import main
from mlops_dl.gates.promote import REFUSED_EXIT
from mlops_dl.registry import open_registry
from tests.unit.monitor_helpers import canvas_file, copy_registry, worse_bundle


@pytest.fixture()
def reg(tiny_registry, tmp_path):
    return open_registry(copy_registry(tiny_registry, tmp_path / "registry"))


def _cli(capsys, *args) -> tuple[int, str]:
    capsys.readouterr()
    rc = main(list(args))
    captured = capsys.readouterr()
    return rc, " ".join((captured.out + captured.err).split())


def test_accept_passes_and_is_stored_with_the_version(tmp_path, capsys, reg):
    # the tiny BERT's quality varies between sessions (its WordPiece vocab is not
    # deterministic), so the gate here is well below any fitted tiny model's macro-F1
    canvas = canvas_file(tmp_path, offline={"threshold": 0.2, "per_class_f1_floor": 0.0})
    rc, out = _cli(capsys, "accept", "tiny:1", "--canvas", str(canvas), "--registry", str(reg.root))
    assert rc == 0 and "ACCEPTED" in out, out
    acc = reg.get("tiny:1").attachment("acceptance.json")
    served = "onnxruntime:int8-static"  # the canvas's default: onnxruntime, batch-invariant int8
    assert acc["passed"] is True and acc["canvas_servable"] == served
    assert acc["schema"] == "mlops-dl/acceptance/2" and acc["machine"]["fingerprint"]
    # every servable of the version that runs here was evaluated, each with its precision
    assert {"onnxruntime:fp32", "onnxruntime:int8-dynamic", "openvino:fp32",
            "openvino:int8-nncf", served} <= set(acc["servables"])
    assert acc["servables"]["onnxruntime:int8-dynamic"]["batch_invariant"] is False
    assert acc["servables"]["openvino:int8-nncf"]["precision"] == "int8"
    acc = {**acc, **acc["servables"][served]}
    checks = {c["name"]: c for c in acc["checks"]}
    assert checks["macro_f1"]["value"] >= 0.2 and checks["macro_f1"]["passed"]
    assert checks["per_class_f1_floor"]["worst_class"] in ("negative", "neutral", "positive")
    assert "measured now" in checks["latency_p95_batch1"]["source"]  # no bench.json yet
    assert len(acc["test_predictions"]) == acc["n_test"] > 0 and acc["test_fingerprint"]
    names = [c["name"] for c in acc["behaviour"]["checks"]]
    assert names == ["invariance_name", "invariance_mention", "invariance_url", "negation",
                     "label_templates"]
    for c in acc["behaviour"]["checks"]:  # each ran on its cases, or says why it did not
        assert (c["cases"] > 0 and 0.0 <= c["rate"] <= 1.0) or c["skipped"], c
        assert acc["behaviour"]["cases"][c["name"]] == c["cases"]
        assert (f"of {c['cases']} cases" if not c.get("skipped") else "skipped") in out


def test_accept_fails_below_the_thresholds(tmp_path, capsys, reg):
    # a version that always answers "negative": macro-F1 ~0.17, two classes at F1 0
    worse = reg.register("tiny", worse_bundle(reg.get("tiny:1").path, tmp_path / "worse"))
    canvas = canvas_file(tmp_path, offline={"threshold": 0.5, "per_class_f1_floor": 0.3})
    rc, out = _cli(capsys, "accept", worse.ref, "--canvas", str(canvas), "--registry", str(reg.root))
    assert rc == 4 and "REJECTED" in out and "FAIL" in out
    acc = reg.get(worse.ref).attachment("acceptance.json")
    assert acc["passed"] is False and acc["accepted"] == []
    for row in acc["servables"].values():  # every servable of the worse version fails alike
        assert {c["name"] for c in row["checks"] if not c["passed"]} == {"macro_f1",
                                                                         "per_class_f1_floor"}


def test_latency_comes_from_bench_json_when_present(tmp_path, reg):
    row = {"runtime": "onnxruntime", "variant": "int8-static", "precision": "int8",
           "batch1": {"p95_ms": 12.5}}
    reg.attach("tiny:1", "bench.json", {"date": "2026-01-01", "hardware": {"cpu": "Test CPU"},
                                        "engines": {"onnx-int8-static": row}})
    canvas = load_canvas(canvas_file(tmp_path, latency={"p95_ms": 10}))
    result = accept(reg, "tiny:1", canvas, engine="onnxruntime", variant="int8")
    assert list(result["servables"]) == ["onnxruntime:int8-static"]  # the one named
    served = result["servables"]["onnxruntime:int8-static"]
    lat = next(c for c in served["checks"] if c["name"] == "latency_p95_batch1")
    assert lat["value"] == 12.5 and "bench.json" in lat["source"] and "Test CPU" in lat["source"]
    assert lat["passed"] is False and result["passed"] is False


def test_behaviour_suite_gates_only_when_asked(tmp_path, reg):
    strict = {"negation_min_rate": 1.0, "invariance_min_rate": 1.0}
    gated = accept(reg, "tiny:1", load_canvas(canvas_file(tmp_path, behaviour={**strict, "gate": True})),
                   engine="onnxruntime", variant="int8")
    if all(c["passed"] for c in gated["servables"]["onnxruntime:int8-static"]["behaviour"]["checks"]):
        pytest.skip("the tiny model happens to pass every behavioural check at 100 %")
    assert gated["passed"] is False
    report_only = accept(reg, "tiny:1", load_canvas(canvas_file(tmp_path, name="c2.yaml",
                                                                behaviour={**strict, "gate": False})),
                         engine="onnxruntime", variant="int8")
    assert report_only["passed"] is True


def test_accept_reuses_stored_predictions(tmp_path, reg, monkeypatch):
    canvas = load_canvas(canvas_file(tmp_path))
    first = accept(reg, "tiny:1", canvas)["servables"]["onnxruntime:int8-static"]
    from mlops_dl.runtime import Predictor

    calls = []
    original = Predictor.predict_proba
    monkeypatch.setattr(Predictor, "predict_proba", lambda self, texts, *a, **k: (
        calls.append(len(texts)), original(self, texts, *a, **k))[1])
    second = accept(reg, "tiny:1", canvas)
    assert second["servables"]["onnxruntime:int8-static"]["test_predictions"] == first["test_predictions"]
    assert second["n_test"] not in calls  # the test split was not scored again


def test_promote_gate_refuses_then_records_a_forced_promotion(tmp_path, capsys, reg):
    canvas = str(canvas_file(tmp_path))
    base = ["--canvas", canvas, "--registry", str(reg.root)]
    rc, out = _cli(capsys, "promote", "tiny:1", "--to", "production", *base)
    assert rc == REFUSED_EXIT and "no acceptance result" in out
    assert reg.alias_target("tiny", "production") is None

    assert _cli(capsys, "accept", "tiny:1", *base)[0] == 0
    rc, out = _cli(capsys, "promote", "tiny:1", "--to", "production", *base)
    assert rc == 0 and "first promotion" in out and reg.alias_target("tiny", "production") == 1

    worse = reg.register("tiny", worse_bundle(reg.get("tiny:1").path, tmp_path / "worse"))
    assert _cli(capsys, "accept", worse.ref, *base)[0] == 0  # the lenient canvas accepts it
    rc, out = _cli(capsys, "promote", worse.ref, "--to", "production", *base)
    assert rc == REFUSED_EXIT
    assert "worse than the champion tiny:1" in out and "McNemar p" in out
    assert reg.alias_target("tiny", "production") == 1

    rc, out = _cli(capsys, "promote", worse.ref, "--force", *base)
    assert rc == 2 and "--reason" in out
    rc, out = _cli(capsys, "promote", worse.ref, "--force", "--reason", "rollback drill", *base)
    assert rc == 0 and "FORCED" in out and reg.alias_target("tiny", "production") == 2
    decision = reg.get(worse.ref).attachment("promotion.json")
    assert decision["decision"] == "forced" and decision["reason"] == "rollback drill"
    assert decision["comparison"]["worse"] is True and decision["previous"] == "tiny:1"
    assert decision["comparison"]["mcnemar"]["a_right_b_wrong"] > 0
    assert [d["decision"] for d in reg.read_audit("tiny")] == ["refused", "promoted", "refused", "forced"]


def test_promote_an_equal_version_and_refuse_after_canvas_change(tmp_path, capsys, reg):
    canvas = canvas_file(tmp_path)
    base = ["--canvas", str(canvas), "--registry", str(reg.root)]
    copy = tmp_path / "copy"
    shutil.copytree(reg.get("tiny:1").path, copy, ignore=shutil.ignore_patterns("attachments", "tags"))
    same = reg.register("tiny", copy)
    for ref in ("tiny:1", same.ref):
        assert _cli(capsys, "accept", ref, *base)[0] == 0
    assert _cli(capsys, "promote", "tiny:1", *base)[0] == 0
    rc, _ = _cli(capsys, "promote", same.ref, "--json", *base)
    assert rc == 0
    comp = reg.get(same.ref).attachment("promotion.json")["comparison"]
    assert comp["worse"] is False and comp["mcnemar"]["p_value"] == 1.0
    canvas_file(tmp_path, monitoring={"psi_alarm": 0.3})  # the canvas changes after acceptance
    rc, out = _cli(capsys, "promote", "tiny:1", *base)
    assert rc == REFUSED_EXIT and "has changed since" in out
    rc, out = _cli(capsys, "promote", same.ref, *base)
    assert rc == 0 and "already @production" in out
    assert json.loads((reg.root / "tiny" / "promotions.jsonl").read_text().splitlines()[-1])["decision"] == "refused"


def test_test_split_location_errors_and_config_fallback(tmp_path, capsys, reg):
    rc, out = _cli(capsys, "accept", "tiny:1", "--canvas", str(canvas_file(tmp_path)),
                   "--registry", str(reg.root), "--data", str(tmp_path / "nowhere"))
    assert rc == 2 and "not a prepared dataset" in out
    from mlops_dl.errors import MlopsError
    from mlops_dl.monitor.reference import validation_dir
    from mlops_dl.registry import ModelVersion
    lineage = json.loads((reg.get("tiny:1").path / "lineage.json").read_text())
    version_dir = tmp_path / "version-9"
    version_dir.mkdir()
    prepared = lineage["data_dir"]
    (version_dir / "config.yaml").write_text(
        f"data: {{name: {prepared.rsplit('/', 1)[1]}, output_dir: {prepared.rsplit('/', 1)[0]}}}\n")
    mv = ModelVersion("tiny", 9, version_dir, {})  # no lineage.json: config.yaml's data
    assert str(validation_dir(mv, None)) == prepared
    (version_dir / "config.yaml").write_text("data: {name: gone, output_dir: /nowhere}\n")
    with pytest.raises(MlopsError, match="looked at /nowhere/gone"):
        validation_dir(mv, None)


def _with_canvas(reg, tmp_path, name: str, canvas: str) -> str:
    """tiny:1 registered again with pipeline.canvas set to ``canvas`` in its config.yaml."""
    import yaml

    bundle = worse_bundle(reg.get("tiny:1").path, tmp_path / name, shift=0.0)
    cfg = yaml.safe_load((bundle / "config.yaml").read_text())
    cfg["pipeline"]["canvas"] = canvas
    (bundle / "config.yaml").write_text(yaml.safe_dump(cfg))
    return reg.register("tiny", bundle).ref


def test_default_canvas_is_the_one_the_version_names_else_the_project_default(
        tmp_path, capsys, reg, monkeypatch):
    """One canvas rule: --canvas, else the version's pipeline.canvas, else mlops-dl.yaml's
    canvas; the error names everything it searched."""
    own = canvas_file(tmp_path, name="own-canvas.yaml", offline={"threshold": 0.0})
    named = _with_canvas(reg, tmp_path, "named", str(own))
    monkeypatch.chdir(tmp_path)  # no project default here
    rc, out = _cli(capsys, "accept", named, "--registry", str(reg.root), "--json")
    assert rc == 0 and json.loads(out)["canvas"] == str(own)
    rc, out = _cli(capsys, "promote", named, "--registry", str(reg.root), "--json")
    assert rc == 0 and json.loads(out)["alias"] == "production"
    unnamed = _with_canvas(reg, tmp_path, "unnamed", "")
    for cmd in ("accept", "promote"):
        rc, out = _cli(capsys, cmd, unnamed, "--registry", str(reg.root))
        assert rc != 0 and "no canvas found; searched --canvas (not given)" in out
        assert f"{unnamed}'s config.yaml: names no pipeline.canvas" in out
        assert "mlops-dl.yaml: no canvas: key" in out
    missing = _with_canvas(reg, tmp_path, "missing", "configs/no-such-canvas.yaml")
    rc, out = _cli(capsys, "accept", missing, "--registry", str(reg.root))
    assert rc != 0 and "pipeline.canvas configs/no-such-canvas.yaml, which is not here" in out
    (tmp_path / "mlops-dl.yaml").write_text(f"canvas: {own.name}\n")
    rc, out = _cli(capsys, "accept", unnamed, "--registry", str(reg.root), "--json")
    assert rc == 0 and json.loads(out)["canvas"] == str(tmp_path / own.name)
