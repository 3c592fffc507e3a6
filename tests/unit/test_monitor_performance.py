"""Calibration stored at export, estimated vs realised F1 in `mlops-dl monitor`, the monitoring
page's F1 chart and greyed slices, and `mlops-dl bench-monitor`, on the tiny model."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone

import pytest

from mlops_dl.cli import main
from mlops_dl.data.prepared import load_prepared
from mlops_dl.registry import open_registry
from mlops_dl.runtime import from_registry
from tests.unit.monitor_helpers import LABELS, canvas_file, copy_registry, write_log


@pytest.fixture()
def reg_root(tiny_registry, tmp_path):
    return copy_registry(tiny_registry, tmp_path / "registry")


def _validation(reg_root) -> tuple[list[str], list[int]]:
    lineage = open_registry(reg_root).get("tiny:1").lineage
    return load_prepared(lineage["data_dir"]).texts_labels("validation")


def test_export_stores_a_calibrator_that_lowers_the_validation_ece(tiny_registry):
    mv = open_registry(tiny_registry).get("tiny:1")
    stored = mv.attachment("calibration.json")
    assert stored["schema"] == "mlops-dl/calibration/1" and stored["labels"] == LABELS
    served = mv.read_jsonl("eval_samples.jsonl")[0]["variant"]  # the default servable's file
    assert stored["method"] in ("temperature", "isotonic") and stored["variant"] == served
    assert stored["ece_after"] < stored["ece_before"]
    assert stored["ece_cross_fitted"][stored["method"]] <= stored["ece_cross_fitted"]["none"]
    checks = mv.read_json("validation.json")["calibration"]
    assert checks["ece_before"] == stored["ece_before"] and checks["method"] == stored["method"]
    from fastapi.testclient import TestClient

    from mlops_dl.ui import UISettings, create_app

    page = TestClient(create_app(UISettings(registry=tiny_registry))).get("/models/tiny/versions/1").text
    assert 'id="calibration"' in page and f"<strong>{stored['method']}</strong>" in page


def test_monitor_estimates_f1_and_shows_the_realised_one_from_feedback(tmp_path, capsys, reg_root):
    texts, gold = _validation(reg_root)
    predictor = from_registry("tiny:1", reg_root, provider="cpu")
    log = write_log(tmp_path / "p.jsonl", predictor, texts * 3)
    annotations = tmp_path / "labels.csv"
    with open(annotations, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "gold"])
        w.writerows((t, LABELS[g]) for t, g in list(zip(texts, gold))[:30])
    canvas = canvas_file(tmp_path, offline={"threshold": 0.99, "per_class_f1_floor": 0.0},
                         monitoring={"min_predictions": 10, "false_alarm_rate": 0.02})
    assert main(["label", "import", str(annotations), "--canvas", str(canvas)]) == 0
    capsys.readouterr()
    main(["monitor", "--log", str(log), "--ref", "tiny:1", "--canvas", str(canvas),
          "--registry", str(reg_root), "--json"])
    report = json.loads(capsys.readouterr().out)
    perf = report["performance"]
    est = perf["estimated"]
    lo, hi = est["interval"]
    assert 0.0 <= lo <= est["macro_f1"] <= hi <= 1.0 and set(est["per_class"]) == set(LABELS)
    assert est["label_shift_corrected"] and abs(sum(est["prior"].values()) - 1) < 1e-3
    # calibrated for the variant that served the log (refitted on eval_samples when export's differs)
    assert perf["calibration"]["variant"] == report["reference"]["variant"]
    assert perf["realised"]["n"] == 90  # 30 labelled texts, logged three times
    assert abs(perf["realised"]["macro_f1"] - perf["estimated_on_labelled"]["macro_f1"]) < 0.3
    assert perf["threshold"] == 0.99 and perf["test"]["macro_f1"] is not None
    if hi < 0.99:  # the tiny model is far below a 0.99 threshold: the estimate says so
        assert perf["status"] == "alarm" and any("estimated macro-F1" in a for a in report["alarms"])
    seq = report["sequential"]
    assert seq["false_alarm_rate"] == 0.02
    names = {t["name"] for t in seq["tests"]}
    assert "expected accuracy" in names and "realised accuracy (labels)" in names


def test_monitoring_page_plots_estimated_f1_and_greys_small_slices(tmp_path, reg_root):
    from mlops_dl.gates.canvas import load_canvas
    from mlops_dl.ui.monitoring import monitoring_page

    texts, _ = _validation(reg_root)
    predictor = from_registry("tiny:1", reg_root, provider="cpu")
    log = write_log(tmp_path / "p.jsonl", predictor, texts * 2)
    write_log(log, predictor, texts[:1], start=datetime(2026, 1, 2, 12, tzinfo=timezone.utc))
    canvas = load_canvas(canvas_file(tmp_path, monitoring={"min_slice_predictions": 5}))
    page = monitoring_page([str(log)], canvas, open_registry(reg_root), "tiny:1", 4)
    spec = page["charts"]["f1"]
    rows = spec["data"]["values"]
    assert rows and all(r["series"] == "estimated (no labels)" and r["lo"] <= r["f1"] <= r["hi"] for r in rows)
    assert any(r["label"].startswith("measured on the test split") for r in spec["layer"][-1]["data"]["values"])
    small = [r for r in page["slice_rows"] if r["too_few"]]
    assert small and all(r["n"] < 5 for r in small)
    plotted = {r["time"] for r in rows}
    assert not plotted & {r["since"] for r in small}  # never plotted


def test_bench_monitor_reports_each_shift_and_writes_the_streams(tmp_path, capsys, reg_root):
    canvas = canvas_file(tmp_path)
    out = tmp_path / "streams"
    capsys.readouterr()
    assert main(["bench-monitor", "tiny:1", "--registry", str(reg_root), "--canvas", str(canvas),
                 "--seeds", "3", "--null-seeds", "4", "--length", "500", "--shift-at", "200",
                 "--chunk", "150", "--streams", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    shifts = {r["shift"] for r in result["table"]}
    assert {"none", "class-mix", "covariate-long", "concept"} <= shifts
    mix = next(r for r in result["table"] if r["shift"] == "class-mix" and r["method"] == "ours")
    assert mix["detected"] >= 2 / 3 and mix["median_delay"] > 0 and "estimate_mae" in mix
    meta = json.loads((out / "meta.json").read_text())
    assert (out / "reference.csv").is_file() and all((out / s["file"]).is_file() for s in meta["streams"])
    assert json.loads((out / "ours.json").read_text())["table"] == result["table"]


def test_bench_monitor_refuses_a_shift_past_the_stream(capsys, reg_root):
    assert main(["bench-monitor", "tiny:1", "--registry", str(reg_root), "--length", "100",
                 "--shift-at", "200"]) != 0
    assert "--shift-at 200 must be below --length 100" in capsys.readouterr().err
