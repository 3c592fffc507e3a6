"""Registry API: refs and names, register/get/promote/tags/attachments/delete, tampering."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mlops_dl.errors import RegistryError
from mlops_dl.registry import ModelRef, open_registry, parse_ref, Registry


def make_bundle(path: Path, payload: bytes = b"onnx-bytes", labels=("neg", "pos")) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "model.onnx").write_bytes(payload)
    (path / "tokenizer.json").write_text('{"model": {}}')
    meta = {"labels": list(labels), "variants": {"fp32": "model.onnx"}, "outputs": ["logits"]}
    (path / "model.json").write_text(json.dumps(meta))
    return path


@pytest.fixture
def reg(tmp_path) -> Registry:
    return open_registry(tmp_path / "registry")


@pytest.fixture
def bundle(tmp_path) -> Path:
    return make_bundle(tmp_path / "bundle")


def test_parse_ref_forms():
    assert parse_ref("sentiment") == ModelRef("sentiment")
    assert parse_ref("sentiment:3") == ModelRef("sentiment", version=3)
    assert parse_ref("sentiment@production") == ModelRef("sentiment", alias="production")
    assert parse_ref("sentiment:latest") == ModelRef("sentiment")
    assert str(parse_ref("a.b-c_d:12")) == "a.b-c_d:12"


@pytest.mark.parametrize(
    "bad", ["", "../etc", "a/b", "a\\b", ".hidden", "a..b", "x:0", "x:-1", "x:abc", "x@", "x@../y", "-x"]
)
def test_bad_refs_refused(bad):
    with pytest.raises(RegistryError):
        parse_ref(bad)


@pytest.mark.parametrize("ref", ["m:\u00b2", "m:\u0661", "m:\uff11", "m:1\u0660"])
def test_versions_are_ascii_digits_only(ref):
    """'\u00b2'.isdigit() is True and int() fails on it; '\u0661' (Arabic-Indic 1) int()s to 1."""
    with pytest.raises(RegistryError, match="invalid version"):
        parse_ref(ref)


def test_names_aliases_and_tag_keys_ending_in_newline_refused(reg, bundle):
    """'$' matches before a final newline: 'evil\\n' must not become a folder or a file."""
    with pytest.raises(RegistryError, match="invalid model name"):
        reg.register("evil\n", bundle)
    reg.register("m", bundle)
    with pytest.raises(RegistryError, match="invalid alias"):
        reg.promote("m:1", "prod\n")
    with pytest.raises(RegistryError, match="invalid tag key"):
        reg.set_tag("m:1", "owner\n", "x")
    with pytest.raises(RegistryError, match="invalid attachment name"):
        reg.attach("m:1", "x.json\n", {})
    assert sorted(p.name for p in reg.root.iterdir()) == ["m"]
    assert not (reg.root / "m" / "aliases").exists()
    assert list((reg.root / "m" / "version-1" / "tags").iterdir()) == []


def test_alias_file_with_non_ascii_digit_is_a_clear_error(reg, bundle):
    reg.register("m", bundle)
    (reg.root / "m" / "aliases").mkdir()
    (reg.root / "m" / "aliases" / "production").write_text("\u0661\n", encoding="utf-8")
    with pytest.raises(RegistryError, match="should hold a version number"):
        reg.get("m@production")


def test_bad_names_refused_on_register(reg, bundle):
    for bad in ["../escape", "a/b", "..", ".staging-x", "x" * 200]:
        with pytest.raises(RegistryError, match="invalid model name"):
            reg.register(bad, bundle)
    assert not (reg.root.parent / "escape").exists()


def test_register_get_promote_roundtrip(reg, bundle):
    v1 = reg.register("sentiment", bundle)
    v2 = reg.register("sentiment", bundle, metadata={"note": "second"})
    assert (v1.version, v2.version) == (1, 2)
    assert v2.path == reg.root / "sentiment" / "version-2"
    assert v2.meta["name"] == "sentiment" and v2.meta["note"] == "second" and v2.meta["created"]
    assert reg.get("sentiment").version == 2  # latest
    assert reg.get("sentiment:1").file("model.onnx").read_bytes() == b"onnx-bytes"
    assert reg.get("sentiment:1").file("model.onnx").name == "model.onnx"
    reg.promote("sentiment:1", "production")
    assert (reg.root / "sentiment" / "aliases" / "production").read_text().strip() == "1"
    assert reg.get("sentiment@production").version == 1
    assert reg.alias_target("sentiment", "production") == 1
    assert reg.alias_target("sentiment", "staging") is None
    reg.promote("sentiment:2", "production")
    assert reg.get("sentiment@production").version == 2
    assert reg.list_models() == ["sentiment"]
    assert [v.version for v in reg.list_versions("sentiment")] == [1, 2]
    checks = json.loads((v1.path / "checksums.json").read_text())["files"]
    assert set(checks) == {"model.onnx", "tokenizer.json", "model.json"}


def test_files_are_read_only(reg, bundle):
    mv = reg.register("m", bundle)
    assert not os.stat(mv.path / "model.onnx").st_mode & 0o222
    assert not os.stat(mv.path).st_mode & 0o222


def test_unknown_refs_name_what_exists(reg, bundle):
    reg.register("m", bundle)
    with pytest.raises(RegistryError, match=r"no version 7 \(versions: 1\)"):
        reg.get("m:7")
    with pytest.raises(RegistryError, match="no model named 'other'.*models: m"):
        reg.get("other")
    with pytest.raises(RegistryError, match="no alias 'production'"):
        reg.get("m@production")
    with pytest.raises(RegistryError, match="reserved"):
        reg.promote("m:1", "latest")


def test_tags_and_attachments_are_mutable_and_unchecksummed(reg, bundle):
    reg.register("m", bundle)
    reg.set_tag("m:1", "stage", "candidate")
    reg.set_tag("m:1", "owner", "ml-team")
    assert reg.get("m:1").tags == {"owner": "ml-team", "stage": "candidate"}
    reg.set_tag("m:1", "owner", None)
    assert reg.get("m:1").tags == {"stage": "candidate"}
    reg.attach("m:1", "bench.json", {"p50_ms": 1.5})
    mv = reg.verify("m:1")  # attachments and tags do not break verification
    assert mv.attachment("bench.json") == {"p50_ms": 1.5}
    assert mv.attachment("missing.json") is None
    with pytest.raises(RegistryError):
        reg.attach("m:1", "../bench.json", {})
    with pytest.raises(RegistryError):
        reg.set_tag("m:1", "a/b", "x")


@pytest.mark.parametrize("damage", ["modify", "truncate", "delete", "add"])
def test_tampering_detected(reg, bundle, damage):
    mv = reg.register("m", bundle)
    target = mv.path / "model.onnx"
    os.chmod(mv.path, 0o755)
    os.chmod(target, 0o644)
    if damage == "modify":
        target.write_bytes(b"ONNX-bytes")  # same size, different content
    elif damage == "truncate":
        target.write_bytes(b"onnx")
    elif damage == "delete":
        target.unlink()
    else:
        (mv.path / "extra.onnx").write_bytes(b"x")
    with pytest.raises(RegistryError, match="failed verification"):
        reg.get("m:1")
    with pytest.raises(RegistryError, match="failed verification"):
        reg.promote("m:1", "production")
    assert reg.get("m:1", verify=False).version == 1
    [row] = reg.verify_all()
    assert row["ref"] == "m:1" and not row["ok"] and row["problems"]


def test_delete_respects_aliases_and_never_reuses_numbers(reg, bundle):
    reg.register("m", bundle)
    reg.register("m", bundle)
    reg.promote("m:2", "production")
    with pytest.raises(RegistryError, match="explicit version"):
        reg.delete("m")
    with pytest.raises(RegistryError, match="alias"):
        reg.delete("m:2")
    reg.delete("m:2", force=True)
    assert reg.aliases("m") == {}
    assert [v.version for v in reg.list_versions("m")] == [1]
    assert reg.register("m", bundle).version == 3
    assert not [p for p in (reg.root / "m").iterdir() if p.name.startswith(".trash")]


def test_bundle_checks(reg, tmp_path, bundle):
    with pytest.raises(RegistryError, match="does not exist"):
        reg.register("m", tmp_path / "nope")
    (bundle / "weights.pt").write_bytes(b"pickle")
    with pytest.raises(RegistryError, match="unpickle"):
        reg.register("m", bundle)
    (bundle / "weights.pt").unlink()
    (bundle / "model.json").write_text(json.dumps({"variants": {"int8": "model.int8.onnx"}}))
    with pytest.raises(RegistryError, match="int8"):
        reg.register("m", bundle)
    assert reg.list_models() == []
    assert not [p for p in (reg.root / "m").iterdir() if p.name.startswith(".staging")]


def test_env_var_sets_default_root(monkeypatch, tmp_path):
    monkeypatch.setenv("MLOPS_DL_REGISTRY", str(tmp_path / "r"))
    assert open_registry().root == tmp_path / "r"
    monkeypatch.delenv("MLOPS_DL_REGISTRY")
    assert open_registry().root == Path("registry")


def test_file_names_cannot_escape_the_version(reg, bundle):
    mv = reg.register("m", bundle)
    for bad in ("../../etc/passwd", "/etc/passwd"):
        with pytest.raises(RegistryError, match="outside"):
            mv.file(bad)


def test_stale_staging_dirs_are_cleaned_live_ones_kept(reg, bundle):
    model_dir = reg.root / "m"
    old = model_dir / ".staging-otherhost-123-abc"
    fresh = model_dir / ".staging-otherhost-456-def"
    for d in (old, fresh):
        d.mkdir(parents=True)
        (d / "model.onnx").write_bytes(b"partial")
    os.utime(old, (0, 0))  # a day (and more) old
    assert [v.version for v in reg.list_versions("m")] == []
    reg.register("m", bundle)
    assert not old.exists() and fresh.exists()
    assert [v.version for v in reg.list_versions("m")] == [1]


def _rewrite_like_an_attacker(mv) -> None:
    """Replace model.onnx and recompute checksums.json (what checksums alone cannot catch)."""
    import hashlib

    os.chmod(mv.path, 0o755)
    for name in ("model.onnx", "checksums.json"):
        os.chmod(mv.path / name, 0o644)
    evil = b"EVIL-bytes"
    (mv.path / "model.onnx").write_bytes(evil)
    doc = json.loads((mv.path / "checksums.json").read_text())
    doc["files"]["model.onnx"] = {"sha256": hashlib.sha256(evil).hexdigest(), "bytes": len(evil)}
    (mv.path / "checksums.json").write_text(json.dumps(doc))


def test_signing_key_catches_a_rewritten_manifest(reg, bundle, monkeypatch):
    monkeypatch.delenv("MLOPS_DL_SIGNING_KEY", raising=False)
    plain = reg.register("plain", bundle)
    _rewrite_like_an_attacker(plain)
    assert reg.get("plain:1").version == 1  # without a key: an accident detector only
    monkeypatch.setenv("MLOPS_DL_SIGNING_KEY", "s3cret")
    with pytest.raises(RegistryError, match="not signed but MLOPS_DL_SIGNING_KEY is set"):
        reg.get("plain:1")
    signed = reg.register("m", bundle)
    assert len(json.loads((signed.path / "checksums.json").read_text())["hmac_sha256"]) == 64
    assert reg.verify("m:1").version == 1
    _rewrite_like_an_attacker(signed)
    with pytest.raises(RegistryError, match="signature does not match"):
        reg.get("m:1")
    [row] = reg.verify_all("m")
    assert not row["ok"] and "signature does not match" in row["problems"][0]
    other = reg.register("m", bundle)
    monkeypatch.setenv("MLOPS_DL_SIGNING_KEY", "another key")
    with pytest.raises(RegistryError, match="signed with another key"):
        reg.get(other.ref)
    doc = json.loads((signed.path / "checksums.json").read_text())
    doc.pop("hmac_sha256")
    (signed.path / "checksums.json").write_text(json.dumps(doc))
    with pytest.raises(RegistryError, match="signature was stripped"):
        reg.get("m:1")


def test_a_storage_backend_must_implement_every_primitive():
    """Registry is abstract: a backend that misses a primitive fails at construction, naming it."""
    from mlops_dl.registry.local import LocalRegistry
    from mlops_dl.registry.s3 import S3Registry
    from mlops_dl.registry.store import Registry as Base
    class Partial(Base):
        def list_models(self) -> list[str]:
            return []

    with pytest.raises(TypeError, match="_set_alias"):
        Partial.__new__(Partial)
    assert not LocalRegistry.__abstractmethods__ and not S3Registry.__abstractmethods__


def test_a_corrupt_alias_history_or_stored_object_is_a_registry_error(tmp_path):
    """JSON the parser rejects beyond syntax (a >4300-digit integer) or a non-object is named."""
    from mlops_dl.registry import layout
    from mlops_dl.registry.s3client import loads

    reg = open_registry(tmp_path / "reg")
    reg.register("m", make_bundle(tmp_path / "b"))
    reg.promote("m:1", "prod")
    history = tmp_path / "reg" / "m" / layout.HISTORY / "prod.jsonl"
    history.write_text(history.read_text() + '{"to": ' + "1" * 5000 + "}\n")
    with pytest.raises(RegistryError, match=r"prod\.jsonl line 2 is not valid JSON"):
        reg.history("m", "prod")
    with pytest.raises(RegistryError, match="expected a JSON object, got list"):
        loads(b"[1]", "s3://b/m/versions/1.json")
    with pytest.raises(RegistryError, match="not valid JSON"):
        loads(b"1" * 5000, "s3://b/m/versions/1.json")


def test_a_version_without_declared_variants_has_fp32_as_model_onnx(tmp_path):
    """Older bundles' model.json has no `variants`: the one resolver (runtime.resolve, used by
    the Predictor, Ray scoring and export-triton) serves model.onnx as fp32."""
    from mlops_dl.runtime import resolve

    bundle = make_bundle(tmp_path / "b")
    meta = json.loads((bundle / "model.json").read_text())
    del meta["variants"]
    (bundle / "model.json").write_text(json.dumps(meta))
    mv = open_registry(tmp_path / "reg").register("m", bundle)
    assert "variants" not in mv.meta
    fp32 = resolve(mv, "onnxruntime", "fp32")
    assert fp32.file == "model.onnx" and mv.file(fp32.file).is_file()
    with pytest.raises(RegistryError, match=r"no batch-invariant int8 variant .* \(has: fp32\)"):
        resolve(mv, "onnxruntime", "int8")
