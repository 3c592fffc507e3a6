"""Nothing left behind: a killed copy/registration leaves no temp copy outside the registry's
staging, and `registry gc` removes stale staging (local) and orphan uploads (S3), nothing else."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mlops_dl.cli import main
from mlops_dl.errors import MlopsError
from mlops_dl.registry import open_registry
from mlops_dl.registry.gc import collect, parse_age
from tests.unit.test_registry import make_bundle

REPO = Path(__file__).resolve().parents[2]


def _killed_midway(code: str, marker: Path, env: dict) -> None:
    """Run ``code`` (which touches ``marker`` once it is mid-work), then kill -9 it."""
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO,
                            env={**os.environ, **env, "PYTHONPATH": str(REPO)})
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None, "the child ended before it was mid-work"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    marker.unlink()


SLOW_COPY = """
    import shutil, time
    from pathlib import Path
    from mlops_dl.registry import open_registry, store
    real = shutil.copyfile
    def slow(src, dst, **kw):  # the first file lands, then the kill comes
        out = real(src, dst, **kw)
        Path({marker!r}).touch()
        time.sleep(60)
        return out
    store.shutil.copyfile = slow
    open_registry({src!r}).copy("m:1", open_registry({dest!r}))
"""


def _gc(capsys, registry: str, *args: str) -> dict:
    assert main(["registry", "gc", "-r", registry, "--older-than", "0s", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_killed_copies_leave_nothing_outside_staging_and_gc_removes_it(tmp_path, capsys):
    src, dest, tmp = tmp_path / "src", tmp_path / "dest", tmp_path / "tmpdir"
    tmp.mkdir()
    open_registry(src).register("m", make_bundle(tmp_path / "b", os.urandom(1 << 20)))
    open_registry(dest).register("m", make_bundle(tmp_path / "b0"))  # a version gc must keep
    marker = tmp_path / "midway"
    for _ in range(5):
        _killed_midway(SLOW_COPY.format(marker=str(marker), src=str(src), dest=str(dest)),
                       marker, {"TMPDIR": str(tmp)})
        assert list(tmp.iterdir()) == []  # no temp copy in $TMPDIR
        left = sorted((dest / "m").glob(".staging-*"))
        assert len(left) == 1  # each copy removed what the killed one before it left
    dry = _gc(capsys, str(dest), "--dry-run")
    assert sorted(item["where"] for item in dry["would_remove"]) == [str(p) for p in left]
    assert all(p.exists() for p in left)
    assert len(_gc(capsys, str(dest))["removed"]) == 1
    assert not list((dest / "m").glob(".staging-*"))
    assert [row["ok"] for row in open_registry(dest).verify_all()] == [True]
    assert open_registry(src).copy("m:1", open_registry(dest)).version == 2  # still works after


def test_gc_keeps_young_and_live_staging(tmp_path):
    reg = open_registry(tmp_path / "reg")
    reg.register("m", make_bundle(tmp_path / "b"))
    from mlops_dl.registry import staging

    live = staging.new_staging_dir(tmp_path / "reg" / "m")  # this process: alive
    assert collect(reg, 0.0) == []
    dead = tmp_path / "reg" / "m" / ".staging-otherhost-1-x"
    dead.mkdir()
    assert collect(reg, 3600.0) == []  # too young
    assert [r["where"] for r in collect(reg, 0.0)] == [str(dead)]
    assert live.exists() and not dead.exists()


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("30m", 1800), ("1h", 3600), ("0s", 0)])
def test_parse_age(text, seconds):
    assert parse_age(text) == seconds


@pytest.mark.parametrize("bad", ["1", "h", "-1h", "01h", "1.5h", "\u0661h", "9" * 50 + "s"])
def test_parse_age_refuses(bad):
    with pytest.raises(MlopsError, match="--older-than"):
        parse_age(bad)


SLOW_UPLOAD = """
    import time
    from pathlib import Path
    from mlops_dl.registry import open_registry, s3client
    reg = open_registry({url!r})
    real = reg.objects.call
    def slow(op, **kw):
        out = real(op, **kw)
        if op == "put_object" and "/data/" in kw.get("Key", ""):
            Path({marker!r}).touch()
            time.sleep(60)
        return out
    reg.objects.call = slow
    reg.register("m", {bundle!r})
"""


def test_killed_s3_registration_upload_is_removed_by_gc_and_nothing_else(s3_url, tmp_path, capsys):
    reg = open_registry(s3_url)
    reg.register("m", make_bundle(tmp_path / "b1"))
    bundle = make_bundle(tmp_path / "b2", os.urandom(1 << 20))
    marker = tmp_path / "midway"
    _killed_midway(SLOW_UPLOAD.format(url=s3_url, marker=str(marker), bundle=str(bundle)),
                   marker, {})
    assert _gc(capsys, s3_url, "--older-than", "1h")["removed"] == []  # in-flight-young
    dry = _gc(capsys, s3_url, "--dry-run")["would_remove"]
    assert [item["kind"] for item in dry] == ["staging", "upload"]  # the reader cache's too
    upload = reg._manifest("m", 1)["upload"]
    assert upload not in dry[1]["where"] and dry[1]["where"].startswith(s3_url)
    removed = _gc(capsys, s3_url)["removed"]
    assert [item["where"] for item in removed] == [item["where"] for item in dry]
    assert _gc(capsys, s3_url)["removed"] == []
    report = open_registry(s3_url).verify_all()
    assert [row["ok"] for row in report] == [True]
    assert reg.register("m", bundle).version == 2
