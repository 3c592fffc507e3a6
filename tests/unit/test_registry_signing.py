"""OpenSSF model signing of versions (private key at registration, public key at read), legacy
HMAC versions, and signed statements (DSSE) with the same key pair."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mlops_dl.errors import RegistryError
from mlops_dl.registry import open_registry, signing
from mlops_dl.registry.layout import SIGNATURE
from tests.unit.test_registry import make_bundle


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("keys")
    signing.generate_key_pair(root / "team.key", root / "team.pub")
    signing.generate_key_pair(root / "other.key", root / "other.pub")
    return {"key": root / "team.key", "pub": root / "team.pub",
            "other_key": root / "other.key", "other_pub": root / "other.pub"}


@pytest.fixture
def no_keys(monkeypatch):
    for env in (signing.PRIVATE_KEY_ENV, signing.PUBLIC_KEY_ENV, signing.SIGSTORE_IDENTITY_ENV,
                "MLOPS_DL_SIGNING_KEY"):
        monkeypatch.delenv(env, raising=False)
    return monkeypatch


def _writable(path: Path) -> Path:
    path.chmod(0o644)
    path.parent.chmod(0o755)
    return path


def test_key_pair_files(keys):
    assert oct(keys["key"].stat().st_mode & 0o777) == "0o600"
    assert keys["pub"].read_text().startswith("-----BEGIN PUBLIC KEY-----")
    with pytest.raises(RegistryError, match="refusing to overwrite"):
        signing.generate_key_pair(keys["key"], keys["pub"])


def _signed_version(reg, tmp_path, keys, no_keys, payload=b"onnx-bytes"):
    no_keys.setenv(signing.PRIVATE_KEY_ENV, str(keys["key"]))
    mv = reg.register("m", make_bundle(tmp_path / "b", payload))
    no_keys.delenv(signing.PRIVATE_KEY_ENV)  # readers hold no secret
    no_keys.setenv(signing.PUBLIC_KEY_ENV, str(keys["pub"]))
    return mv


def test_local_version_signed_with_the_private_key_verifies_with_the_public_key(
        tmp_path, keys, no_keys):
    reg = open_registry(tmp_path / "reg")
    mv = _signed_version(reg, tmp_path, keys, no_keys)
    bundle = json.loads((mv.path / SIGNATURE).read_text())
    assert bundle["mediaType"].startswith("application/vnd.dev.sigstore.bundle")
    assert reg.verify("m:1").ref == "m:1"
    assert reg.verify_all("m") == [{"ref": "m:1", "ok": True, "problems": []}]
    reg.attach("m:1", "bench.json", {"x": 1})  # attachments are outside the signature
    reg.verify("m:1")
    no_keys.setenv(signing.PUBLIC_KEY_ENV, str(keys["other_pub"]))
    with pytest.raises(RegistryError, match="model.sig does not verify.*Key mismatch"):
        reg.get("m:1", verify=True)


@pytest.mark.parametrize("change", ["byte", "checksums", "extra", "unsigned", "strip"])
def test_any_change_after_signing_is_refused(tmp_path, keys, no_keys, change):
    reg = open_registry(tmp_path / "reg")
    mv = _signed_version(reg, tmp_path, keys, no_keys)
    if change == "byte":  # a flipped byte, with checksums.json rewritten to match
        onnx = _writable(mv.path / "model.onnx")
        onnx.write_bytes(b"ONNX-bytes")
        sums = _writable(mv.path / "checksums.json")
        doc = json.loads(sums.read_text())
        import hashlib
        doc["files"]["model.onnx"]["sha256"] = hashlib.sha256(b"ONNX-bytes").hexdigest()
        sums.write_text(json.dumps(doc))
    elif change == "checksums":
        sums = _writable(mv.path / "checksums.json")
        sums.write_text(sums.read_text().replace('"algorithm"', '"algorithm" ', 1))
    elif change == "extra":
        _writable(mv.path / "model.json")
        (mv.path / "extra.onnx").write_bytes(b"x")
    elif change == "unsigned":  # a version registered without the key
        no_keys.delenv(signing.PUBLIC_KEY_ENV)
        reg.register("m", make_bundle(tmp_path / "b2"))
        no_keys.setenv(signing.PUBLIC_KEY_ENV, str(keys["pub"]))
    else:
        _writable(mv.path / "model.json")
        os.remove(mv.path / SIGNATURE)
    ref = "m:2" if change == "unsigned" else "m:1"
    with pytest.raises(RegistryError, match="model.sig"):
        reg.get(ref, verify=True)
    assert not reg.verify_all("m")[-1]["ok"]


def test_legacy_hmac_versions_are_still_read(tmp_path, keys, no_keys):
    reg = open_registry(tmp_path / "reg")
    no_keys.setenv("MLOPS_DL_SIGNING_KEY", "team-secret")
    reg.register("m", make_bundle(tmp_path / "b"))  # legacy: HMAC only
    no_keys.setenv(signing.PUBLIC_KEY_ENV, str(keys["pub"]))
    assert reg.verify("m:1").version == 1  # HMAC holds: read as legacy
    no_keys.setenv("MLOPS_DL_SIGNING_KEY", "wrong")
    with pytest.raises(RegistryError, match="signature does not match"):
        reg.verify("m:1")
    no_keys.delenv("MLOPS_DL_SIGNING_KEY")
    with pytest.raises(RegistryError, match="model.sig is missing"):
        reg.verify("m:1")


def test_a_bad_signing_key_is_a_clear_error(tmp_path, keys, no_keys):
    bad = tmp_path / "bad.key"
    bad.write_text("not a key")
    no_keys.setenv(signing.PRIVATE_KEY_ENV, str(bad))
    with pytest.raises(RegistryError, match="signing .* failed"):
        open_registry(tmp_path / "reg").register("m", make_bundle(tmp_path / "b"))
    assert not list((tmp_path / "reg" / "m").glob("version-*"))


def test_signed_version_on_s3_verifies_and_a_changed_object_is_refused(s3_url, tmp_path, keys,
                                                                       no_keys):
    reg = open_registry(s3_url)
    _signed_version(reg, tmp_path, keys, no_keys)
    assert open_registry(s3_url).verify("m:1").version == 1
    assert reg.verify_all("m")[0]["ok"]
    no_keys.setenv(signing.PUBLIC_KEY_ENV, str(keys["other_pub"]))
    no_keys.setenv("MLOPS_DL_CACHE_DIR", str(tmp_path / "fresh"))
    with pytest.raises(RegistryError, match="model.sig does not verify"):
        open_registry(s3_url).get("m:1", verify=True)
    # an attacker who rewrites an object and its manifest entry cannot re-sign
    no_keys.setenv(signing.PUBLIC_KEY_ENV, str(keys["pub"]))
    import boto3
    from mlops_dl.files import sha256_bytes
    client = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    bucket, prefix = s3_url[5:].split("/", 1)
    key = f"{prefix}/m/versions/1.json"
    manifest = json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    upload = manifest["upload"]
    client.put_object(Bucket=bucket, Key=f"{prefix}/m/data/{upload}/model.onnx", Body=b"evil")
    new = {"sha256": sha256_bytes(b"evil"), "bytes": 4}
    manifest["files"]["model.onnx"] = new
    sums_key = f"{prefix}/m/data/{upload}/checksums.json"
    sums = json.loads(client.get_object(Bucket=bucket, Key=sums_key)["Body"].read())
    sums["files"]["model.onnx"] = new
    body = json.dumps(sums).encode()
    client.put_object(Bucket=bucket, Key=sums_key, Body=body)
    manifest["files"]["checksums.json"] = {"sha256": sha256_bytes(body), "bytes": len(body)}
    client.put_object(Bucket=bucket, Key=key, Body=json.dumps(manifest).encode())
    no_keys.setenv("MLOPS_DL_CACHE_DIR", str(tmp_path / "fresh2"))
    with pytest.raises(RegistryError, match="model.sig does not verify"):
        open_registry(s3_url).get("m:1", verify=True)


def test_statements_sign_and_verify_with_the_same_key_kind(keys, no_keys):
    doc = signing.statement("m:1", "ab" * 32, "https://mlops-dl/acceptance/v1", {"passed": True})
    no_keys.setenv(signing.PRIVATE_KEY_ENV, str(keys["key"]))
    envelope = signing.sign_statement(doc)
    no_keys.delenv(signing.PRIVATE_KEY_ENV)
    no_keys.setenv(signing.PUBLIC_KEY_ENV, str(keys["pub"]))
    assert signing.verify_statement(envelope) == doc
    import base64
    forged = dict(envelope, payload=base64.b64encode(json.dumps(
        {**doc, "predicate": {"passed": False}}).encode()).decode())
    with pytest.raises(RegistryError, match="does not verify"):
        signing.verify_statement(forged, "acceptance.json")
    with pytest.raises(RegistryError, match="not a DSSE envelope"):
        signing.verify_statement({"passed": True}, "acceptance.json")
    no_keys.setenv(signing.PUBLIC_KEY_ENV, str(keys["other_pub"]))
    with pytest.raises(RegistryError, match="not signed by the key"):
        signing.verify_statement(envelope)


def test_a_subset_of_files_is_checked_against_the_signed_digests(tmp_path, keys, no_keys):
    """What a Ray actor does with the files the driver sends it (model.sig among them)."""
    reg = open_registry(tmp_path / "reg")
    mv = _signed_version(reg, tmp_path, keys, no_keys)
    got = tmp_path / "actor"
    got.mkdir()
    for rel in ("model.json", "model.onnx", SIGNATURE):
        (got / rel).write_bytes((mv.path / rel).read_bytes())
    pem = keys["pub"].read_bytes()
    assert signing.subset_problem(got, ["model.json", "model.onnx"], pem) is None
    (got / "model.onnx").write_bytes(b"swapped in transit")
    assert "model.onnx: not the file model.sig signs" == signing.subset_problem(
        got, ["model.json", "model.onnx"], pem)
    other = keys["other_pub"].read_bytes()
    assert "does not verify" in signing.subset_problem(got, ["model.json"], other)


def test_a_ray_actor_refuses_files_that_differ_from_the_signed_ones(tiny_registry, tmp_path,
                                                                     keys, no_keys):
    from mlops_dl.serve import ray_scoring

    src = open_registry(tiny_registry).get("tiny:1")
    no_keys.setenv(signing.PRIVATE_KEY_ENV, str(keys["key"]))
    reg = open_registry(tmp_path / "reg")
    reg.register("tiny", src.path)
    no_keys.delenv(signing.PRIVATE_KEY_ENV)
    no_keys.setenv(signing.PUBLIC_KEY_ENV, str(keys["pub"]))
    mv = reg.get("tiny:1", verify=True)
    servable = ray_scoring.driver_servable(mv, "onnxruntime", "int8", "cpu")
    files = ray_scoring.model_files(mv, servable)
    assert SIGNATURE in files
    pem = signing.public_key_pem()
    onnx = servable.file

    def received(payload: dict[str, bytes], name: str) -> Path:  # what BatchScorer writes
        folder = tmp_path / name
        for rel, data in payload.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_bytes(data)
        return folder

    names = [rel for rel in files if rel != SIGNATURE]
    ray_scoring.check_received(received(files, "good"), names, "tiny:1", pem)
    bad = {**files, onnx: files[onnx][:-1] + bytes([files[onnx][-1] ^ 1])}
    with pytest.raises(RegistryError, match="refused in the Ray actor.*not the file"):
        ray_scoring.check_received(received(bad, "bad"), names, "tiny:1", pem)
    unsigned = {k: v for k, v in files.items() if k != SIGNATURE}
    with pytest.raises(RegistryError, match="model.sig was not sent"):
        ray_scoring.check_received(received(unsigned, "unsigned"), names, "tiny:1", pem)
