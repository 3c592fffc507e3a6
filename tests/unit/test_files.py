"""mlops_dl.files: atomic writes (old file or new, never half; temp removed on failure), hashing."""

from __future__ import annotations

import hashlib
import json
import stat

import pytest

from mlops_dl import files


def test_write_json_text_bytes_replace_and_leave_no_temp(tmp_path):
    path = tmp_path / "sub" / "a.json"
    files.write_json(path, {"b": 1, "path": tmp_path})
    assert json.loads(path.read_text(encoding="utf-8")) == {"b": 1, "path": str(tmp_path)}
    files.write_text(path, "second\n")
    assert path.read_text(encoding="utf-8") == "second\n"
    files.write_bytes(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    assert stat.S_IMODE(path.stat().st_mode) == files.FILE_MODE
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.json"]


def test_failed_write_keeps_the_old_file_and_removes_the_temp(tmp_path):
    path = tmp_path / "a.txt"
    files.write_text(path, "old")

    def half_then_fail(tmp):
        tmp.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        files.write_with(path, half_then_fail)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_write_with_keeps_a_suffix_for_format_sniffing_writers(tmp_path):
    seen = []
    files.write_with(tmp_path / "plot.png", lambda tmp: (seen.append(tmp.suffix), tmp.write_bytes(b"x")), ".png")
    assert seen == [".png"] and (tmp_path / "plot.png").read_bytes() == b"x"


def test_sha256_file_matches_hashlib(tmp_path):
    data = b"abc" * 1_000_000
    (tmp_path / "f").write_bytes(data)
    assert files.sha256_file(tmp_path / "f", chunk=4096) == hashlib.sha256(data).hexdigest()
    assert files.sha256_bytes(data) == hashlib.sha256(data).hexdigest()
