"""Acceptance as a signed attestation: a forged or edited acceptance.json never promotes, with a
signing key or without one, and a copy does not arrive accepted."""

from __future__ import annotations

import json

import pytest

from mlops_dl.errors import MlopsError
from mlops_dl.gates.accept import accept, load_test_split
from mlops_dl.gates.canvas import load_canvas
from mlops_dl.gates.promote import promote
from mlops_dl.registry import open_registry, signing
from tests.unit.monitor_helpers import canvas_file, worse_bundle


@pytest.fixture()
def keys(tmp_path, monkeypatch):
    private, public = tmp_path / "keys" / "signing.pem", tmp_path / "keys" / "verify.pem"
    private.parent.mkdir()
    signing.generate_key_pair(private, public)
    monkeypatch.setenv(signing.PRIVATE_KEY_ENV, str(private))
    monkeypatch.setenv(signing.PUBLIC_KEY_ENV, str(public))
    return private, public


def _forged(mv, canvas, gold_predictions: bool) -> dict:
    """A hand-written acceptance.json: passed, the canvas's digest, every servable 'accepted'."""
    doc = {"passed": True, "canvas_sha256": canvas.sha256, "ref": mv.ref,
           "servables": {"onnxruntime:int8-static": {"engine": "onnxruntime",
                                                     "variant": "int8-static", "passed": True,
                                                     "checks": []}}}
    if gold_predictions:
        split = load_test_split(mv)
        doc["test_fingerprint"] = split.fingerprint
        doc["servables"]["onnxruntime:int8-static"]["test_predictions"] = list(split.gold)
    return doc


def _worse(tiny_registry, tmp_path):
    """A registry with a version that always answers 'negative' (fails a 0.5 macro-F1 gate)."""
    src = open_registry(tiny_registry).get("tiny:1")
    reg = open_registry(tmp_path / "registry")
    reg.register("tiny", worse_bundle(src.path, tmp_path / "worse"))
    return reg


@pytest.mark.parametrize("gold_predictions", [False, True])
def test_a_forged_acceptance_without_keys_is_scored_again_and_refused(tiny_registry, tmp_path,
                                                                      gold_predictions):
    reg = _worse(tiny_registry, tmp_path)
    canvas = load_canvas(canvas_file(tmp_path, offline={"threshold": 0.5, "per_class_f1_floor": 0.0}))
    reg.attach("tiny:1", "acceptance.json", _forged(reg.get("tiny:1"), canvas, gold_predictions))
    with pytest.raises(MlopsError, match=r"failed acceptance.*macro_f1 0\.1") as err:
        promote(reg, "tiny:1", canvas, to="production")
    assert reg.alias_target("tiny", "production") is None
    audit = reg.read_audit("tiny")[-1]
    assert audit["decision"] == "refused" and "scored again at promote" in audit["acceptance_trust"]
    assert "1.0000" not in str(err.value)  # the forged gold predictions were not used


def test_with_keys_only_a_verified_attestation_is_trusted(tiny_registry, tmp_path, keys):
    src = open_registry(tiny_registry).get("tiny:1", verify=False)  # unsigned fixture
    reg = open_registry(tmp_path / "registry")
    reg.register("tiny", src.path)  # signed with the private key (model.sig)
    canvas = load_canvas(canvas_file(tmp_path))
    result = accept(reg, "tiny:1", canvas, engine="onnxruntime", variant="int8")
    assert result["attestation"]["payloadType"] == signing.IN_TOTO
    stored = reg.get("tiny:1").attachment("acceptance.json")

    edited = json.loads(json.dumps(stored))  # a check flipped after signing
    row = edited["servables"]["onnxruntime:int8-static"]
    row["checks"][0]["value"] = 0.99
    reg.attach("tiny:1", "acceptance.json", edited)
    with pytest.raises(MlopsError, match="edited after it was signed"):
        promote(reg, "tiny:1", canvas, to="production")
    reg.attach("tiny:1", "acceptance.json", {k: v for k, v in stored.items() if k != "attestation"})
    with pytest.raises(MlopsError, match="carries no signed attestation"):
        promote(reg, "tiny:1", canvas, to="production")
    assert reg.alias_target("tiny", "production") is None

    reg.attach("tiny:1", "acceptance.json", stored)  # the genuine record
    decision = promote(reg, "tiny:1", canvas, to="production")
    assert decision["decision"] == "promoted"
    assert decision["acceptance_trust"] == "signed attestation verified"


def test_a_copy_arrives_unaccepted_unless_asked_and_is_verified_there(tiny_registry, tmp_path, keys):
    src_reg = open_registry(tmp_path / "a")
    src_reg.register("tiny", open_registry(tiny_registry).get("tiny:1", verify=False).path)
    canvas = load_canvas(canvas_file(tmp_path))
    accept(src_reg, "tiny:1", canvas, engine="onnxruntime", variant="int8")
    dest = open_registry(tmp_path / "b")
    plain = src_reg.copy("tiny:1", dest)
    assert plain.attachment("acceptance.json") is None
    with pytest.raises(MlopsError, match="no acceptance result"):
        promote(dest, plain.ref, canvas, to="production")
    carried = src_reg.copy("tiny:1", dest, with_attestations=True)
    assert carried.attachment("acceptance.json") is not None
    decision = promote(dest, carried.ref, canvas, to="production")  # re-verified at the copy
    assert decision["acceptance_trust"] == "signed attestation verified"
