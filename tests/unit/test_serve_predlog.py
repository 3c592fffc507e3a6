"""The prediction log: rotation loses no line, text/hash/none modes, close() flushes."""

from __future__ import annotations

import hashlib
import json
import threading

from mlops_dl.serve.predlog import PredictionLog, text_field


def read_all(path) -> list[dict]:
    files = sorted(path.parent.glob(path.name + "*"))
    return [json.loads(line) for f in files for line in f.read_text().splitlines()]


def test_rotation_loses_no_line_under_concurrent_writers(tmp_path):
    path = tmp_path / "logs" / "pred.jsonl"
    log = PredictionLog(path, max_bytes=2000, backups=1000)

    def writer(k):
        for i in range(250):
            log.write({"writer": k, "i": i, "text": "x" * (i % 40)})

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    records = read_all(path)
    assert len(records) == 1000 and log.written == 1000 and log.dropped == 0
    assert {(r["writer"], r["i"]) for r in records} == {(k, i) for k in range(4) for i in range(250)}
    files = list(path.parent.glob("pred.jsonl*"))
    assert len(files) > 5  # it did rotate
    assert all(f.stat().st_size <= 2000 for f in files)


def test_rotation_keeps_only_backups_and_newest_lines(tmp_path):
    path = tmp_path / "pred.jsonl"
    log = PredictionLog(path, max_bytes=500, backups=2)
    for i in range(200):
        log.write({"i": i})
    log.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pred.jsonl", "pred.jsonl.1",
                                                          "pred.jsonl.2"]
    newest = [json.loads(x)["i"] for x in path.read_text().splitlines()]
    older = [json.loads(x)["i"] for x in (tmp_path / "pred.jsonl.1").read_text().splitlines()]
    assert newest[-1] == 199 and older[-1] + 1 == newest[0]


def test_reopen_appends_and_text_modes(tmp_path):
    path = tmp_path / "pred.jsonl"
    for n in range(2):
        log = PredictionLog(path)
        log.write({"n": n, **text_field("héllo", "text")})
        log.close()
    assert [json.loads(x)["n"] for x in path.read_text().splitlines()] == [0, 1]
    assert text_field("héllo", "hash") == {
        "text_sha256": hashlib.sha256("héllo".encode()).hexdigest()}
    assert text_field("héllo", "none") == {}
