"""What is gated is what is served: acceptance per servable, `auto` among accepted servables,
promotion like for like, and predictions that do not depend on their batch-mates."""

from __future__ import annotations

import random

import numpy as np
import pytest

from mlops_dl import machine
from mlops_dl.gates.accept import accept
from mlops_dl.gates.canvas import load_canvas
from mlops_dl.gates.promote import promote
from mlops_dl.registry import acceptance
from mlops_dl.runtime import auto, build, from_registry, from_version, servable_for
from mlops_dl.runtime import variants as V
from tests.unit.monitor_helpers import canvas_file
from tests.unit.serve_helpers import fresh_registry
from tests.unit.test_openvino import bench_doc

pytest.importorskip("openvino")

TEXTS = ["love it, great phone", "terrible, never again", "it is a phone", "ok",
         "the meeting moved to noon and nobody told me about it " * 3, "best day ever!!!",
         "worst service I have had in years, the support never answered", "meh"]


def test_one_accepted_servable_is_what_auto_serves(tiny_registry, tmp_path):
    """(a) two servables runnable, only one accepted: serve auto/auto serves that one and
    /readyz says so; naming the unaccepted one works with a warning."""
    from fastapi.testclient import TestClient

    from mlops_dl.config import ServeConfig
    from mlops_dl.serve.app import create_app
    from tests.unit.test_serve_app import wait_ready

    reg = fresh_registry(tiny_registry, tmp_path / "registry")
    canvas = load_canvas(canvas_file(tmp_path))
    # the bench says onnxruntime fp32 is fastest, but only openvino int8-static is accepted
    reg.attach("tiny:1", "bench.json", bench_doc(machine.fingerprint(), ("onnxruntime", "fp32")))
    result = accept(reg, "tiny:1", canvas, engine="openvino", variant="int8-static")
    assert result["accepted"] == ["openvino:int8-static"]
    cfg = ServeConfig(log_path=str(tmp_path / "log.jsonl"), swap_poll_s=0.05, engine="auto",
                      variant="auto")
    with TestClient(create_app(cfg, "tiny@production", registry=str(reg.root))) as client:
        wait_ready(client)
        model = client.get("/readyz").json()["model"]
        assert model["servable"] == "openvino:int8-static" and model["accepted"] is True
        assert model["precision"] == "int8" and model["choice"]["accepted_only"] is True
        assert "onnxruntime:fp32" in model["choice"]["skipped"]  # faster, but not accepted
        assert "warnings" not in model
        assert client.post("/v1/predict", json={"texts": ["love"]}).status_code == 200
    logged = (tmp_path / "log.jsonl").read_text().splitlines()[-1]
    assert '"servable": "openvino:int8-static"' in logged
    explicit = from_registry("tiny:1", reg, "cpu", "fp32", engine="onnxruntime")
    assert explicit.accepted is False
    assert "onnxruntime fp32 (fp32) was not evaluated by acceptance" in explicit.describe()["warnings"][0]


def test_a_legacy_acceptance_record_is_that_one_servable(tiny_registry, tmp_path):
    reg = fresh_registry(tiny_registry, tmp_path / "registry")
    reg.attach("tiny:1", "acceptance.json", {"ref": "tiny:1", "engine": "onnxruntime",
                                             "variant": "int8", "passed": True, "checks": []})
    record = acceptance.read(reg.get("tiny:1"))
    assert record.legacy and record.accepted == ["onnxruntime:int8-dynamic"]
    # auto may not serve int8-dynamic (its labels vary with the batch): nothing to serve
    with pytest.raises(Exception, match="nothing to serve.*not accepted"):
        from_registry("tiny:1", reg, "cpu", "auto", engine="auto")


def test_promote_with_auto_compares_the_servable_each_serves(tiny_registry, tmp_path):
    """(b) canvas latency auto/auto: champion and challenger are scored with what auto picks
    for each (the same accepted servable here), recorded in the decision."""
    reg = fresh_registry(tiny_registry, tmp_path / "registry", versions=2, alias="staging")
    canvas = load_canvas(canvas_file(tmp_path, latency={"engine": "auto", "variant": "auto"}))
    accepted = {}
    for ref in ("tiny:1", "tiny:2"):
        reg.attach(ref, "bench.json", bench_doc(machine.fingerprint(), ("openvino", "int8-nncf")))
        accepted[ref] = accept(reg, ref, canvas)
        assert accepted[ref]["canvas_servable"] == "auto"
    promote(reg, "tiny:1", canvas, to="production")
    decision = promote(reg, "tiny:2", canvas, to="production")
    comp = decision["comparison"]
    assert decision["decision"] == "promoted" and decision["servable"] == "openvino:int8-nncf"
    assert comp["challenger_servable"] == comp["champion_servable"]
    assert comp["challenger_servable"]["engine"] == "openvino"
    assert comp["challenger_servable"]["variant"] == "int8-nncf"
    assert comp["split_note"] == "" and comp["n_test"] > 0
    # what serve's resolver picks is what accept passed and promote compared
    served, choice = servable_for(reg.get("tiny:2"), "auto", "auto")
    assert served.key == decision["servable"] and choice["accepted_only"]
    assert accepted["tiny:2"]["servables"][served.key]["passed"]


def test_a_version_that_lacks_the_canvas_servable_is_named(tiny_registry, tmp_path):
    reg = fresh_registry(tiny_registry, tmp_path / "registry")
    canvas = load_canvas(canvas_file(tmp_path, latency={"engine": "openvino", "variant": "bf16"}))
    if not machine.cpu_has_bf16():
        with pytest.raises(Exception, match="bf16 needs a CPU"):
            promote(reg, "tiny:1", canvas, to="live")
        return
    with pytest.raises(Exception, match="no acceptance result"):
        promote(reg, "tiny:1", canvas, to="live")


def _default_servables(mv) -> list:
    """Every servable `auto` or a default can pick (batch-invariant, runnable here)."""
    found, _ = auto.runnable(mv, "auto", "auto")
    assert found and all(s.batch_invariant for s in found)
    return found


def test_a_label_does_not_depend_on_its_batch_mates(tiny_registry):
    """(f) alone, length-sorted, shuffled among others: the same labels, probabilities within
    1e-3 (fp32/int8) or 2e-2 (bf16) for every default servable."""
    from mlops_dl.registry import open_registry

    mv = open_registry(tiny_registry).get("tiny:1")
    rng = random.Random(0)
    others = [f"filler text number {i} " * (1 + i % 7) for i in range(40)]
    for servable in _default_servables(mv):
        pred = build(mv, servable, "cpu")
        alone = np.concatenate([pred.predict_proba([t]) for t in TEXTS])  # (N, L)
        together = pred.predict_proba(TEXTS, batch_size=8)
        mixed = TEXTS + others
        rng.shuffle(mixed)
        shuffled = pred.predict_proba(mixed, batch_size=16)
        shuffled = shuffled[[mixed.index(t) for t in TEXTS]]
        tol = 2e-2 if servable.precision == "bf16" else 1e-3
        for probs in (together, shuffled):
            np.testing.assert_allclose(probs, alone, atol=tol, err_msg=servable.key)
            assert (probs.argmax(1) == alone.argmax(1)).all(), servable.key


def test_dynamic_int8_says_it_varies_with_the_batch(tiny_registry):
    from mlops_dl.registry import open_registry

    mv = open_registry(tiny_registry).get("tiny:1")
    pred = from_version(mv, "cpu", "int8-dynamic")
    d = pred.describe()
    assert d["batch_invariant"] is False and V.BATCH_VARIES in " ".join(d["warnings"])
    assert "onnxruntime:int8-dynamic" not in {s.key for s in _default_servables(mv)}


def test_champion_problem_refuses_worse_and_uncomparable_but_not_a_skipped_champion(tmp_path):
    from types import SimpleNamespace

    from mlops_dl.gates.promote import champion_problem

    canvas = load_canvas(canvas_file(tmp_path))
    mv, champ = SimpleNamespace(ref="tiny:2"), SimpleNamespace(ref="tiny:1")
    assert champion_problem(mv, champ, {"skipped": "not compared: no int8"}, canvas) is None
    assert "only 3 shared" in champion_problem(mv, champ, {"refusal": "only 3 shared"}, canvas)
    worse = {"worse": True, "mcnemar": {"p_value": 1e-5, "a_right_b_wrong": 9, "a_wrong_b_right": 1},
             "challenger_macro_f1": 0.5, "champion_macro_f1": 0.7, "delta_macro_f1": -0.2,
             "n_test": 100}
    assert "is worse than the champion tiny:1" in champion_problem(mv, champ, worse, canvas)
    assert champion_problem(mv, champ, {**worse, "worse": False}, canvas) is None
