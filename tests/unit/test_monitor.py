"""`mlops-dl monitor` over synthetic logs of the tiny model: drift fires (exit 3), no drift does not."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from mlops_dl.cli import main
from mlops_dl.data.prepared import load_prepared
from mlops_dl.errors import MlopsError
from mlops_dl.monitor import ALARM_EXIT, replay_log
from mlops_dl.registry import open_registry
from mlops_dl.runtime import from_registry
from tests.unit.monitor_helpers import canvas_file, copy_registry, record, worse_bundle, write_log

DRIFT_TEXTS = [f"Ünïcødé ☃ 🎉 qxz jjj wvvv ÿÿ {'lorem ipsum ' * (i % 5)} {i}" for i in range(150)]


@pytest.fixture()
def reg_root(tiny_registry, tmp_path):
    return copy_registry(tiny_registry, tmp_path / "registry")


@pytest.fixture()
def predictor(reg_root):
    return from_registry("tiny:1", reg_root, provider="cpu")


@pytest.fixture()
def validation_texts(reg_root):
    lineage = json.loads((open_registry(reg_root).get("tiny:1").path / "lineage.json").read_text())
    return load_prepared(lineage["data_dir"]).texts_labels("validation")[0]


def _monitor(capsys, log, reg_root, canvas, *extra) -> tuple[int, dict]:
    capsys.readouterr()
    rc = main(["monitor", "--log", str(log), "--ref", "tiny:1", "--canvas", str(canvas),
               "--registry", str(reg_root), "--json", *extra])
    out = capsys.readouterr().out
    return rc, json.loads(out) if out.strip().startswith("{") else {}


def test_non_drifting_log_raises_no_alarm(tmp_path, capsys, reg_root, predictor, validation_texts):
    log = write_log(tmp_path / "logs" / "predictions.jsonl", predictor, validation_texts * 4)
    rc, report = _monitor(capsys, log, reg_root, canvas_file(tmp_path))
    assert rc == 0, report.get("alarms")
    assert report["status"] == "ok" and report["n"] == 4 * len(validation_texts)
    assert {c["name"] for c in report["checks"]} == {"predicted_label", "confidence", "char_length",
                                                     "token_length"}
    assert all(c["psi"] < 0.1 for c in report["checks"])
    assert report["latency"]["requests"] == report["n"]
    stored = open_registry(reg_root).get("tiny:1").attachment("reference_stats.json")
    assert stored["schema"].startswith("mlops-dl/reference-stats")
    assert stored["variant"] == predictor.variant == "int8-static"  # the servable that served


def test_drifting_log_fires_an_alarm_and_exits_3(tmp_path, capsys, reg_root, predictor):
    log = write_log(tmp_path / "p.jsonl", predictor, DRIFT_TEXTS)
    html = tmp_path / "monitor.html"
    rc, report = _monitor(capsys, log, reg_root, canvas_file(tmp_path), "--html", str(html))
    assert rc == ALARM_EXIT == 3
    assert report["status"] == "alarm"
    by_name = {c["name"]: c for c in report["checks"]}
    assert by_name["char_length"]["status"] == "alarm" and by_name["char_length"]["psi"] > 0.25
    assert by_name["token_length"]["status"] == "alarm"
    assert report["oov"]["status"] == "alarm" and report["oov"]["rate"] > 0.05
    doc = html.read_text()
    assert "data:image/png;base64," in doc and "ALARM" in doc and "<script" not in doc


def test_hashed_log_skips_text_statistics(tmp_path, capsys, reg_root, predictor, validation_texts):
    log = write_log(tmp_path / "p.jsonl", predictor, validation_texts * 4, hashed=True)
    rc, report = _monitor(capsys, log, reg_root, canvas_file(tmp_path))
    assert rc == 0
    assert {c["name"] for c in report["checks"]} == {"predicted_label", "confidence"}
    assert any("holds no texts" in n for n in report["notes"]) and "oov" not in report


def test_few_predictions_show_figures_but_raise_no_alarm(tmp_path, capsys, reg_root, predictor):
    log = write_log(tmp_path / "p.jsonl", predictor, DRIFT_TEXTS[:30])
    rc, report = _monitor(capsys, log, reg_root, canvas_file(tmp_path))
    assert rc == 0 and report["status"] == "warn" and not report["alarms"]
    assert any("min_predictions" in n for n in report["notes"])
    assert any(w.startswith("(suppressed)") for w in report["warnings"])


def test_low_confidence_share_alarm_and_malformed_lines(tmp_path, capsys, reg_root, predictor,
                                                         validation_texts):
    log = tmp_path / "p.jsonl"
    results = predictor.predict(validation_texts * 4)
    t0 = datetime(2026, 2, 1, tzinfo=timezone.utc)
    lines = []
    for i, (text, r) in enumerate(zip(validation_texts * 4, results)):
        probs = dict(r["probabilities"])
        if i % 2 == 0:  # half the window: the model is unsure
            probs = {k: (0.4 if k == r["label"] else 0.3) for k in probs}
        lines.append(json.dumps(record(text, probs, t0, rid=str(i))))
    lines.insert(3, "{broken")
    log.write_text("\n".join(lines) + "\n")
    rc, report = _monitor(capsys, log, reg_root, canvas_file(tmp_path))
    assert rc == 3
    assert 0.5 <= report["low_confidence"]["share"] < 0.6  # half forced low, a few already are
    assert any(a.startswith("low confidence") for a in report["alarms"])
    assert report["window"]["malformed"] == 1 and report["window"]["malformed_examples"][0]["line"] == 4


def test_empty_window_is_no_data(tmp_path, capsys, reg_root, predictor, validation_texts):
    log = write_log(tmp_path / "p.jsonl", predictor, validation_texts)
    rc, report = _monitor(capsys, log, reg_root, canvas_file(tmp_path), "--since", "2030-01-01")
    assert rc == 0 and report["status"] == "no-data" and report["window"]["outside_window"] > 0


def test_replay_measures_disagreement_per_class(tmp_path, capsys, reg_root, predictor,
                                                validation_texts):
    reg = open_registry(reg_root)
    worse = reg.register("tiny", worse_bundle(reg.get("tiny:1").path, tmp_path / "worse"))
    log = write_log(tmp_path / "p.jsonl", predictor, validation_texts)
    same = replay_log([log], "tiny:1", reg_root)
    assert same["agreement"] == 1.0 and same["n"] == len(validation_texts)
    capsys.readouterr()
    rc = main(["monitor", "replay", "--log", str(log), "--challenger", worse.ref,
               "--registry", str(reg_root), "--json"])
    assert rc == 0
    r = json.loads(capsys.readouterr().out)
    per_class = {row["served_label"]: row for row in r["per_class"]}
    # the challenger says negative to everything: it agrees exactly where the served label is
    # negative (which labels the tiny model serves varies with its non-deterministic vocab)
    assert per_class and all(row["agreement"] == (1.0 if label == "negative" else 0.0)
                             for label, row in per_class.items())
    assert r["challenger_distribution"] == {"negative": 1.0}
    hashed = write_log(tmp_path / "h.jsonl", predictor, validation_texts, hashed=True)
    with pytest.raises(MlopsError, match="needs logged texts"):
        replay_log([hashed], "tiny:1", reg_root)
