"""Labelling queue (ordering, dedup, PII masking) and feedback import (validation, versions)."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone

import pandas as pd
import pytest

from mlops_dl.monitor import feedback as label
from mlops_dl.cli import main
from mlops_dl.config import SourceConfig
from mlops_dl.data.sources import load_source
from mlops_dl.errors import DataError, MlopsError
from tests.unit.monitor_helpers import LABELS, canvas_file, record

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)


def _p(neg, neu, pos):
    return {"negative": neg, "neutral": neu, "positive": pos}


RECORDS = [
    record("sure thing", _p(0.05, 0.05, 0.9), T0, rid="1"),
    record("call me at +1 (415) 555-0132 or mail bob@example.com", _p(0.34, 0.33, 0.33), T0, rid="2"),
    record("hey @alice look https://x.co/abc", _p(0.5, 0.45, 0.05), T0, rid="3"),
    record("hey @bob look https://y.co/zzz", _p(0.4, 0.3, 0.3), T0, rid="4"),  # same text once masked
    record("meh", _p(0.2, 0.6, 0.2), T0, rid="5"),
    record(None, _p(0.34, 0.33, 0.33), T0, rid="6"),  # no text: cannot be queued
]


def test_queue_orders_by_uncertainty_dedups_and_masks():
    q = label.build_queue(RECORDS, n=10, measure="margin")
    assert list(q.columns) == label.QUEUE_COLUMNS
    texts = q["text"].tolist()
    assert texts[0] == "call me at <phone> or mail <email>"
    assert "hey @user look <url>" in texts and len(texts) == 4  # two raw texts, one masked text
    dup = q[q["text"] == "hey @user look <url>"].iloc[0]
    assert dup["seen"] == 2 and dup["uncertainty"] == pytest.approx(1 - 0.05)  # the less sure copy (@alice)
    assert q["uncertainty"].is_monotonic_decreasing and (q["gold"] == "").all()
    assert texts[-1] == "sure thing"
    assert label.build_queue(RECORDS, n=2, measure="margin")["text"].tolist() == texts[:2]
    assert not any("@example.com" in t or "555" in t for t in texts)


def test_entropy_ranking_and_exclusion():
    q = label.build_queue(RECORDS, n=10, measure="entropy")
    assert q["text"].iloc[0] == "call me at <phone> or mail <email>"
    excluded = label.build_queue(RECORDS, n=10, exclude_ids={label.text_id("meh")})
    assert "meh" not in excluded["text"].tolist()
    with pytest.raises(MlopsError, match="no logged texts"):
        label.build_queue([RECORDS[-1]], n=5)


def _annotate(path, golds: dict[str, str]):
    df = pd.read_csv(path, keep_default_na=False)
    df["gold"] = df["text"].map(lambda t: golds.get(t, ""))
    df.to_csv(path, index=False)


def test_cli_queue_then_import_makes_versions(tmp_path, capsys):
    log = tmp_path / "p.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in RECORDS) + "{bad line\n")
    canvas = canvas_file(tmp_path)
    queue = tmp_path / "queue.csv"
    assert main(["label", "queue", "--log", str(log), "--n", "3", "--out", str(queue),
                 "--canvas", str(canvas)]) == 0
    assert len(pd.read_csv(queue)) == 3 and "1 malformed" in " ".join(capsys.readouterr().out.split())
    _annotate(queue, {"call me at <phone> or mail <email>": "neutral", "hey @user look <url>": "Negative"})
    assert main(["label", "import", str(queue), "--canvas", str(canvas), "--json"]) == 0
    v1 = json.loads(capsys.readouterr().out)
    assert v1["version"] == 1 and v1["added"] == 2 and v1["blank"] == 1 and v1["rows"] == 2
    folder = tmp_path / "feedback" / "tiny"
    frame = pd.read_parquet(folder / "v-1.parquet")
    assert dict(zip(frame["text"], frame["label"]))["hey @user look <url>"] == "negative"

    # the next queue skips labelled texts; a relabel makes v-2 with the newer gold
    assert main(["label", "queue", "--log", str(log), "--out", str(queue), "--canvas", str(canvas)]) == 0
    assert "hey @user look <url>" not in pd.read_csv(queue)["text"].tolist()
    fix = tmp_path / "fix.csv"
    pd.DataFrame({"text": ["hey @user look <url>", "meh"], "gold": ["positive", "neutral"]}).to_csv(fix, index=False)
    v2 = label.import_labels(fix, LABELS, tmp_path / "feedback", "tiny")
    assert (v2["version"], v2["added"], v2["relabelled"], v2["rows"]) == (2, 1, 1, 3)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["latest"] == 2 and [v["file"] for v in manifest["versions"]] == ["v-1.parquet", "v-2.parquet"]
    assert pd.read_parquet(folder / "v-1.parquet").shape[0] == 2  # v-1 is never rewritten

    # the data stage pools it as a train-only file source
    src = SourceConfig(kind="file", path=str(folder / "v-2.parquet"), split="train")
    loaded = load_source(src, 0)
    assert set(loaded.frame["split"]) == {"train"} and len(loaded.frame) == 3
    assert "split: train" in v2["source_snippet"]


def test_import_errors_name_the_row(tmp_path):
    path = tmp_path / "a.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "text", "gold"])
        w.writerow(["1", "fine", "positive"])
        w.writerow(["2", "multi\nline text", "joy"])  # a quoted newline: the error names line 4
        w.writerow(["3", "", "neutral"])
        w.writerow(["4", "skip me", ""])
    with pytest.raises(DataError) as err:
        label.import_labels(path, LABELS, tmp_path / "fb", "x")
    msg = str(err.value)
    assert "2 invalid annotation(s)" in msg and "row 4: gold 'joy' is not a known label" in msg
    assert "row 5: empty text" in msg and not (tmp_path / "fb" / "x" / "v-1.parquet").exists()
    (tmp_path / "b.csv").write_text("text,label\nx,positive\n")
    with pytest.raises(DataError, match="missing column"):
        label.import_labels(tmp_path / "b.csv", LABELS, tmp_path / "fb", "x")


def test_import_excludes_frozen_test_texts(tmp_path):
    path = tmp_path / "a.csv"
    pd.DataFrame({"text": ["in the test split", "new text"], "gold": ["positive", "negative"]}).to_csv(path, index=False)
    entry = label.import_labels(path, LABELS, tmp_path / "fb", "x", exclude_texts={"in the test split"})
    assert entry["excluded_test_texts"] == 1 and entry["rows"] == 1


def test_new_labels_count_from_the_feedback_version_the_training_data_pooled(tmp_path, capsys):
    from tests.fixtures.make_tiny import make_rows
    from tests.fixtures.tiny_train import write_fixture_prepared

    canvas, fb = canvas_file(tmp_path), tmp_path / "feedback"
    first = tmp_path / "a.csv"
    pd.DataFrame({"text": ["good day", "bad day"], "gold": ["positive", "negative"]}).to_csv(first, index=False)
    v1 = label.import_labels(first, LABELS, fb, "tiny")
    assert label.new_since_training(fb / "tiny", None) == (2, None)  # no training data given
    # the training data pooled v-1 (its data card lists the file's sha256 among its sources)
    data = write_fixture_prepared(tmp_path / "data", make_rows(30))
    card = json.loads((data / "data_card.json").read_text())
    card["sources"] = [{"kind": "file", "path": v1["path"], "sha256": v1["sha256"]}]
    (data / "data_card.json").write_text(json.dumps(card))
    assert label.new_since_training(fb / "tiny", data) == (0, 1)
    second = tmp_path / "b.csv"  # one new text, one relabel, one unchanged
    pd.DataFrame({"text": ["meh day", "bad day", "good day"],
                  "gold": ["neutral", "neutral", "positive"]}).to_csv(second, index=False)
    assert main(["label", "import", str(second), "--canvas", str(canvas), "--data", str(data)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "2 new feedback labels since feedback v1" in out and "not yet" in out
    assert label.new_since_training(fb / "tiny", data) == (2, 1)
    assert label.new_since_training(fb / "tiny", None) == (3, None)
    with pytest.raises(DataError, match="data_card.json"):
        label.new_since_training(fb / "tiny", tmp_path / "nowhere")
