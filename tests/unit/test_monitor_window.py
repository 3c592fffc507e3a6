"""Reading the prediction log: rotations in order, the time window, malformed lines counted."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from mlops_dl.errors import MlopsError
from mlops_dl.monitor.window import check_record, log_files, parse_time, read_window
from tests.unit.monitor_helpers import record

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
PROBS = {"negative": 0.1, "neutral": 0.2, "positive": 0.7}


def _write(path, recs):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in recs))


def test_rotated_files_are_read_oldest_first(tmp_path):
    log = tmp_path / "predictions.jsonl"
    _write(tmp_path / "predictions.jsonl.2", [record("a", PROBS, T0, rid="1")])
    _write(tmp_path / "predictions.jsonl.1", [record("b", PROBS, T0 + timedelta(minutes=1), rid="2")])
    _write(log, [record("c", PROBS, T0 + timedelta(minutes=2), rid="3")])
    (tmp_path / "predictions.jsonl.bak").write_text("not a rotation\n")
    assert [p.name for p in log_files(log)] == ["predictions.jsonl.2", "predictions.jsonl.1",
                                                "predictions.jsonl"]
    win = read_window(log)
    assert [r["text"] for r in win.records] == ["a", "b", "c"]
    assert win.lines == 3 and win.malformed == 0


def test_glob_pattern_reads_per_worker_logs(tmp_path):
    _write(tmp_path / "predictions.101.jsonl", [record("a", PROBS, T0, rid="1")])
    _write(tmp_path / "predictions.102.jsonl", [record("b", PROBS, T0, rid="2")])
    assert len(read_window(str(tmp_path / "predictions*.jsonl")).records) == 2


def test_window_bounds_are_half_open(tmp_path):
    log = tmp_path / "p.jsonl"
    _write(log, [record(str(i), PROBS, T0 + timedelta(hours=i), rid=str(i)) for i in range(5)])
    win = read_window(log, since="2026-03-01T13:00:00Z", until="2026-03-01T15:00:00+00:00")
    assert [r["text"] for r in win.records] == ["1", "2"]
    assert win.outside_window == 3
    naive = read_window(log, since="2026-03-01T14:00:00")  # naive = UTC
    assert [r["text"] for r in naive.records] == ["2", "3", "4"]


def test_malformed_lines_are_counted_with_line_numbers(tmp_path):
    log = tmp_path / "p.jsonl"
    good = record("ok", PROBS, T0, rid="1")
    _write(log, [good, "{not json", json.dumps([1, 2]), json.dumps({**good, "ts": "yesterday"}),
                 json.dumps({k: v for k, v in good.items() if k != "label"}),
                 json.dumps({**good, "probabilities": {"a": "high"}}), "", good])
    win = read_window(log)
    assert len(win.records) == 2 and win.malformed == 5
    assert [m["line"] for m in win.malformed_examples] == [2, 3, 4, 5, 6]
    reasons = " ".join(m["reason"] for m in win.malformed_examples)
    for part in ("not valid JSON", "not a JSON object", "ISO-8601", "missing field 'label'", "probabilities"):
        assert part in reasons


def test_invalid_bytes_do_not_crash(tmp_path):
    log = tmp_path / "p.jsonl"
    log.write_bytes(b"\xff\xfe garbage\n" + json.dumps(record("x", PROBS, T0, rid="1")).encode() + b"\n")
    win = read_window(log)
    assert win.malformed == 1 and len(win.records) == 1


def test_check_record_label_must_be_a_probability_key():
    bad = record("x", PROBS, T0, rid="1") | {"label": "joy"}
    assert "not one of the probability labels" in check_record(bad)
    assert check_record(record("x", PROBS, T0, rid="1")) is None
    assert check_record(record("x", PROBS, T0, rid="1", hashed=True)) is None


def test_user_errors(tmp_path):
    with pytest.raises(MlopsError, match="no such file"):
        read_window(tmp_path / "missing.jsonl")
    with pytest.raises(MlopsError, match="--since"):
        parse_time("last tuesday", "--since")
    (tmp_path / "p.jsonl").write_text("")
    with pytest.raises(MlopsError, match="not after"):
        read_window(tmp_path / "p.jsonl", since="2026-01-02", until="2026-01-01")


def test_lines_json_rejects_beyond_syntax_are_malformed_not_a_crash(tmp_path):
    log = tmp_path / "p.jsonl"
    good = record("x", PROBS, T0, rid="1")
    _write(log, [{**good, "latency_ms": "HUGE"}, "[" * 100_000, good])
    log.write_text(log.read_text().replace('"HUGE"', "1" * 5000))
    win = read_window(log)
    assert win.malformed == 2 and len(win.records) == 1
    assert all("not valid JSON" in m["reason"] for m in win.malformed_examples)
