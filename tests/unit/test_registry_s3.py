"""The S3 backend against a real SeaweedFS server: round trip, reader cache, alias history and
rollback (both backends), copy, concurrency and crashes, tampering, clear refusals."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mlops_dl.cli import main
from mlops_dl.errors import RegistryError
from mlops_dl.registry import layout, open_registry, Registry
from tests.unit.test_registry import make_bundle

REPO = Path(__file__).resolve().parents[2]


def _spawn(code: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=REPO)


def _s3_client():
    from mlops_dl.registry.s3client import make_client

    return make_client()


@pytest.fixture(params=["local", "s3"])
def any_registry(request, tmp_path) -> Registry:
    if request.param == "local":
        return open_registry(tmp_path / "registry")
    return open_registry(request.getfixturevalue("s3_url"))


def test_tiny_model_round_trip_predicts_like_local(tiny_registry, s3_url, capsys, tmp_path):
    from mlops_dl.runtime import from_registry, from_version
    local = open_registry(tiny_registry)
    reg = open_registry(s3_url)
    mv = local.copy("tiny:1", reg)  # files, attachments and where it came from
    assert mv.ref == "tiny:1" and mv.location == f"{s3_url}/tiny:1"
    assert mv.meta["copied_from"][0]["ref"] == "tiny:1"
    got = reg.get("tiny:1", verify=True)  # cold: fetched into the cache, sha256 checked
    assert got.attachment(layout.REFERENCE_STATS)["n"] == 45
    assert got.files() == {k: v for k, v in local.get("tiny:1").files().items()
                           if k not in (layout.MODEL_JSON, layout.CHECKSUMS)} | {
        layout.MODEL_JSON: got.size(layout.MODEL_JSON), layout.CHECKSUMS: got.size(layout.CHECKSUMS)}
    texts = ["love it", "awful day", "the bus is at noon"]
    ours = from_version(got, "cpu", "int8").predict_proba(texts)
    theirs = from_registry("tiny:1", local, "cpu", "int8").predict_proba(texts)
    assert (ours == theirs).all()
    reg.promote("tiny:1", "production")
    capsys.readouterr()
    assert main(["registry", "list", "tiny", "--registry", s3_url, "--json"]) == 0
    assert [r["aliases"] for r in json.loads(capsys.readouterr().out)] == [["production"]]
    assert main(["registry", "verify", "--registry", s3_url]) == 0
    (tmp_path / "in.csv").write_text("text\nlove it\nawful day\n")
    assert main(["--cache-dir", str(tmp_path / "cli-cache"), "predict", "tiny@production",
                 "--registry", s3_url, "-i", str(tmp_path / "in.csv"), "-o", str(tmp_path / "out.csv"),
                 "--variant", "int8", "--provider", "cpu", "--json"]) == 0
    assert len((tmp_path / "out.csv").read_text().splitlines()) == 3
    assert list((tmp_path / "cli-cache").rglob("model.int8.onnx"))  # --cache-dir honoured
    back = reg.copy("tiny@production", open_registry(tiny_registry.parent / "back"), name="tiny-back")
    assert open_registry(tiny_registry.parent / "back").verify("tiny-back:1").meta["copied_from"][-1]["ref"] == "tiny:1"
    assert back.attachment(layout.REFERENCE_STATS) == got.attachment(layout.REFERENCE_STATS)


def test_alias_history_and_rollback(any_registry, tmp_path, capsys):
    reg = any_registry
    bundle = make_bundle(tmp_path / "b")
    for _ in range(3):
        reg.register("m", bundle)
    reg.promote("m:1", "prod")
    reg.promote("m:2", "prod", reason="better F1", action="promote")
    reg.promote("m:3", "prod")
    done = reg.rollback("m", "prod", reason="latency regression")
    assert done["from"] == 3 and done["to"] == 2 and reg.alias_target("m", "prod") == 2
    reg.rollback("m", "prod", reason="pin the first", to=1)
    hist = reg.history("m", "prod")
    assert [(h["from"], h["to"], h["action"]) for h in hist] == [
        (None, 1, "move"), (1, 2, "promote"), (2, 3, "move"), (3, 2, "rollback"), (2, 1, "rollback")]
    assert hist[1]["reason"] == "better F1" and hist[-1]["user"]
    with pytest.raises(RegistryError, match="needs --reason"):
        reg.rollback("m", "prod", reason=" ")
    capsys.readouterr()
    root = reg.location
    assert main(["registry", "history", "m@prod", "--registry", root, "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 5
    assert main(["registry", "rollback", "m@prod", "--reason", "undo", "--registry", root]) == 0
    assert reg.alias_target("m", "prod") == 2
    audit = reg.read_audit("m")[-1]  # the CLI's rollback is in the audit log too, as the UI's
    assert (audit["decision"], audit["ref"], audit["previous"], audit["reason"]) == (
        "rollback", "m:2", "m:1", "undo")
    assert main(["registry", "alias-remove", "m@prod", "--registry", root]) == 0
    assert reg.aliases("m") == {} and reg.history("m", "prod")[-1]["action"] == "remove"
    capsys.readouterr()
    assert main(["registry", "rollback", "m@nope", "--reason", "x", "--registry", root]) != 0
    assert "no earlier version" in capsys.readouterr().err


def test_tags_attachments_audit_delete_on_s3(s3_url, tmp_path):
    reg = open_registry(s3_url)
    bundle = make_bundle(tmp_path / "b")
    reg.register("m", bundle, attachments={"first.json": {"a": 1}})
    reg.register("m", bundle)
    reg.set_tag("m:1", "owner", "ml")
    reg.attach("m:1", "bench.json", {"p50": 3})
    mv = reg.get("m:1")
    assert mv.tags == {"owner": "ml"} and mv.attachments() == ["bench.json", "first.json"]
    assert mv.attachment("first.json") == {"a": 1} and mv.attachment("bench.json") == {"p50": 3}
    reg.append_audit("m", {"decision": "refused"})
    reg.append_audit("m", {"decision": "promoted"})
    assert [r["decision"] for r in reg.read_audit("m")] == ["refused", "promoted"]
    reg.promote("m:2", "prod")
    with pytest.raises(RegistryError, match="target of alias"):
        reg.delete("m:2")
    reg.delete("m:1")
    reg.register("m", bundle)  # numbers are never reused
    assert [v.version for v in reg.list_versions("m")] == [2, 3]
    assert reg.list_models() == ["m"]
    import pickle  # bench hands versions to spawned engine processes

    again = pickle.loads(pickle.dumps(reg.get("m:2")))
    assert again.file("model.onnx").read_bytes() == b"onnx-bytes"
    local = tmp_path / "local"  # the CLI copy: S3 -> a folder, recorded in model.json
    assert main(["registry", "copy", "m@prod", str(local), "--name", "mm", "--registry", s3_url]) == 0
    copied = open_registry(local).verify("mm:1")
    assert copied.meta["copied_from"][-1] == {**copied.meta["copied_from"][-1],
                                              "registry": s3_url, "ref": "m:2"}


def test_parallel_registrations_get_distinct_versions_on_s3(s3_url, tmp_path):
    bundle = make_bundle(tmp_path / "bundle")
    code = f"""
        from mlops_dl.registry import open_registry, Registry
        reg = open_registry({s3_url!r})
        for _ in range(5):
            reg.register("m", {str(bundle)!r})
    """
    procs = [_spawn(code) for _ in range(8)]
    assert [p.wait(timeout=180) for p in procs] == [0] * 8
    reg = open_registry(s3_url)
    assert [v.version for v in reg.list_versions("m")] == list(range(1, 41))
    assert all(row["ok"] for row in reg.verify_all())


def test_kill_during_registrations_leaves_no_partial_version_on_s3(s3_url, tmp_path):
    bundle = make_bundle(tmp_path / "bundle", payload=os.urandom(4 << 20))
    for i in range(6):
        (bundle / f"part-{i}.json").write_bytes(os.urandom(256 << 10))
    code = f"""
        from mlops_dl.registry import open_registry, Registry
        reg = open_registry({s3_url!r})
        for _ in range(20):
            reg.register("m", {str(bundle)!r})
    """
    rng = random.Random(0)
    reg = open_registry(s3_url)
    for _ in range(3):
        proc = _spawn(code)
        time.sleep(1.0 + rng.random() * 1.5)  # start-up + somewhere inside the registrations
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        report = reg.verify_all()
        assert all(row["ok"] for row in report), report  # a version is whole or invisible
    before = len(reg.list_versions("m"))
    assert reg.register("m", bundle).version == max(v.version for v in reg.list_versions("m"))
    assert len(reg.list_versions("m")) == before + 1


def test_parallel_alias_moves_are_all_recorded_on_s3(s3_url, tmp_path):
    reg = open_registry(s3_url)
    bundle = make_bundle(tmp_path / "bundle")
    for _ in range(4):
        reg.register("m", bundle)
    code = f"""
        import random
        from mlops_dl.registry import open_registry, Registry
        reg = open_registry({s3_url!r})
        for i in range(10):
            reg.promote(f"m:{{random.randint(1, 4)}}", "prod", reason=f"move {{i}}")
    """
    procs = [_spawn(code) for _ in range(8)]
    assert [p.wait(timeout=180) for p in procs] == [0] * 8
    hist = open_registry(s3_url).history("m", "prod")
    assert len(hist) == 80
    assert open_registry(s3_url).alias_target("m", "prod") == hist[-1]["to"]
    assert all(h["from"] == prev["to"] for prev, h in zip(hist, hist[1:]))  # a chain, no lost move


def test_tampered_object_is_refused_by_verify_and_on_load(s3_url, tmp_path, capsys, monkeypatch):
    reg = open_registry(s3_url)
    reg.register("m", make_bundle(tmp_path / "b"))
    client = _s3_client()
    bucket, prefix = s3_url[5:].split("/", 1)
    key = next(k["Key"] for k in client.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]
               if k["Key"].endswith("/model.onnx"))
    client.put_object(Bucket=bucket, Key=key, Body=b"evil-bytes")
    capsys.readouterr()
    assert main(["registry", "verify", "--registry", s3_url]) != 0
    out = capsys.readouterr()
    assert "model.onnx: sha256 differs from the recorded checksum" in out.out + out.err
    monkeypatch.setenv("MLOPS_DL_CACHE_DIR", str(tmp_path / "cold-cache"))
    with pytest.raises(RegistryError, match="model.onnx.*failed verification"):
        open_registry(s3_url).get("m:1", verify=True)
    assert not list((tmp_path / "cold-cache").rglob("model.onnx"))  # no half or bad file kept


def test_refusals_are_one_line_and_fast(s3_url, seaweed, monkeypatch, capsys):
    def refused(url: str, match: str) -> None:
        start = time.monotonic()
        capsys.readouterr()
        assert main(["registry", "list", "--registry", url]) != 0
        err = capsys.readouterr().err
        assert match in err and "Traceback" not in err, err
        assert time.monotonic() - start < 15

    refused(f"s3://no-such-bucket-{os.getpid()}/x", "does not exist")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    refused(s3_url, "refused the credentials")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", seaweed["AWS_SECRET_ACCESS_KEY"])
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    refused(s3_url, "cannot reach the S3 endpoint")


def test_a_store_that_ignores_conditional_writes_is_refused(s3_url, tmp_path, monkeypatch):
    from mlops_dl.registry import s3client
    real = s3client.call

    def ignoring(client, url, op, **kw):  # a store that drops If-None-Match / If-Match
        kw.pop("IfNoneMatch", None)
        kw.pop("IfMatch", None)
        return real(client, url, op, **kw)

    monkeypatch.setattr(s3client, "call", ignoring)
    monkeypatch.setattr(s3client, "_PROBED", set())
    with pytest.raises(RegistryError, match="ignores conditional writes"):
        open_registry(s3_url).register("m", make_bundle(tmp_path / "b"))


def test_served_s3_alias_swaps_when_another_process_moves_it(tiny_registry, s3_url, tmp_path):
    import threading

    from fastapi.testclient import TestClient

    from mlops_dl.config import ServeConfig
    from mlops_dl.serve.app import create_app
    from tests.unit.serve_helpers import wait_until

    reg = open_registry(s3_url)
    for _ in range(2):
        open_registry(tiny_registry).copy("tiny:1", reg)
    reg.promote("tiny:1", "production")
    cfg = ServeConfig(log_path=str(tmp_path / "pred.jsonl"), swap_poll_s=0.1, max_wait_ms=2)
    results: list[tuple[int | None, int]] = []
    stop = threading.Event()
    with TestClient(create_app(cfg, "tiny@production", registry=s3_url)) as client:
        wait_until(lambda: client.get("/readyz").status_code == 200, what="ready")

        def hammer(k: int):
            while not stop.is_set():
                r = client.post("/v1/predict", json={"texts": [f"love great {k}", "hate"]})
                results.append((r.json().get("version"), r.status_code))

        threads = [threading.Thread(target=hammer, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.3)
        mover = _spawn(f"""
            from mlops_dl.registry import open_registry, Registry
            open_registry({s3_url!r}).promote("tiny:2", "production", reason="from another machine")
        """)
        assert mover.wait(timeout=60) == 0
        moved = time.monotonic()
        wait_until(lambda: client.get("/readyz").json()["model"]["version"] == 2, what="swap")
        swap_s = time.monotonic() - moved
        time.sleep(0.2)
        stop.set()
        for t in threads:
            t.join()
    assert results and all(status == 200 for _, status in results)
    assert {v for v, _ in results} == {1, 2}
    assert swap_s < 5.0  # poll 0.1 s + verified fetch of the new version


def test_a_rewritten_manifest_is_refused_and_signing_holds_on_s3(s3_url, tmp_path, monkeypatch):
    monkeypatch.setenv("MLOPS_DL_SIGNING_KEY", "team-secret")
    reg = open_registry(s3_url)
    reg.register("m", make_bundle(tmp_path / "b"))
    assert reg.get("m:1", verify=True).meta["labels"] == ["neg", "pos"]
    client = _s3_client()
    bucket, prefix = s3_url[5:].split("/", 1)
    key = f"{prefix}/m/versions/1.json"
    manifest = json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    manifest["meta"]["labels"] = ["pos", "neg"]  # swap the labels without touching model.json
    client.put_object(Bucket=bucket, Key=key, Body=json.dumps(manifest).encode())
    monkeypatch.setenv("MLOPS_DL_CACHE_DIR", str(tmp_path / "fresh"))
    with pytest.raises(RegistryError, match="meta differs from model.json"):
        open_registry(s3_url).get("m:1", verify=True)
    monkeypatch.setenv("MLOPS_DL_SIGNING_KEY", "another-key")
    reg.register("m", make_bundle(tmp_path / "b"))  # signed with another key ...
    monkeypatch.setenv("MLOPS_DL_SIGNING_KEY", "team-secret")
    with pytest.raises(RegistryError, match="signature does not match"):
        open_registry(s3_url).get("m:2", verify=True)  # ... refused under the team's key
