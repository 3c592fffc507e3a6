"""Runs an MLflow user recognises: `mlops-dl runs list` / `runs compare` and the UI's runs
table, run page and compare page, on three run dirs (one registered), in Chromium."""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
import yaml

from mlops_dl.cli import main
from tests.unit.monitor_helpers import copy_registry

CHROMIUM = Path("/usr/bin/chromium")
RUNS = {  # id: (lr, batch_size, val F1, test F1, finished)
    "tiny-run": (3e-3, 16, 0.71, 0.69, True),  # the run behind the registered tiny:1
    "tiny-20261201-101500-a1b2c3": (1e-4, 32, 0.64, 0.62, True),
    "tiny-20261202-111500-d4e5f6": (5e-4, 16, 0.58, None, False),  # killed: resumable
}


def _make_run(src: Path, dest: Path, lr: float, batch: int, val: float, test: float | None,
              finished: bool, day: int) -> None:
    dest.mkdir(parents=True)
    for name in ("data.json", "env.json"):
        shutil.copy(src / name, dest / name)
    cfg = yaml.safe_load((src / "config.yaml").read_text())
    cfg["train"].update({"lr": lr, "batch_size": batch})
    (dest / "config.yaml").write_text(yaml.safe_dump(cfg))
    metrics = json.loads((src / "metrics.json").read_text())
    metrics["validation"]["macro_f1"] = val
    if test is None:
        metrics.pop("test")
    else:
        metrics["test"]["macro_f1"] = test
    (dest / "metrics.json").write_text(json.dumps(metrics))
    (dest / "run.json").write_text(json.dumps({
        "id": dest.name, "command": "train", "config": "configs/tiny.yaml",
        "created": f"2026-12-0{day}T10:15:00+00:00"}))
    if finished:
        (dest / "fit.json").write_text("{}")
    else:
        (dest / "checkpoints").mkdir()
        (dest / "checkpoints" / "last.ckpt").write_bytes(b"not a real checkpoint")
    lines = ["step,epoch,train_loss,val_loss,val_macro_f1"]
    for step in range(1, 31):
        lines.append(f"{step},0,{1.2 / (1 + step * lr * 100):.4f},,")
        if step % 10 == 0:
            lines.append(f"{step},0,,{1.0 / (1 + step * lr * 50):.4f},{val * step / 30:.4f}")
    (dest / "logs").mkdir()
    (dest / "logs" / "metrics.csv").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def runs_world(tmp_path_factory, tiny_run_dir, tiny_registry) -> dict:
    tmp = tmp_path_factory.mktemp("runs-world")
    for day, (run_id, spec) in enumerate(RUNS.items(), start=1):
        _make_run(tiny_run_dir, tmp / "runs" / run_id, *spec, day=day)
    registry = copy_registry(tiny_registry, tmp / "registry")
    return {"runs": tmp / "runs", "registry": registry, "tmp": tmp}


def _json(capsys, *args) -> tuple[int, object]:
    capsys.readouterr()
    rc = main(list(args))
    out = capsys.readouterr().out
    return rc, json.loads(out) if rc == 0 else out


def test_runs_list_shows_params_metrics_versions_and_sorts_filters(runs_world, capsys):
    base = ["runs", "list", "--runs-dir", str(runs_world["runs"]), "--registry",
            str(runs_world["registry"]), "--json"]
    rc, rows = _json(capsys, *base)
    assert rc == 0 and [r["id"] for r in rows] == list(RUNS)[::-1]  # newest first
    by = {r["id"]: r for r in rows}
    assert by["tiny-run"]["registered"] == ["tiny:1"] and by["tiny-run"]["status"] == "finished"
    assert by["tiny-run"]["params"]["train.lr"] == 3e-3 and by["tiny-run"]["config"] == "tiny.yaml"
    assert by["tiny-run"]["val_macro_f1"] == 0.71 and by["tiny-run"]["val_n"] == 45
    assert by["tiny-run"]["test_n"] == 45 and len(by["tiny-run"]["data_fingerprint"]) == 12
    killed = by["tiny-20261202-111500-d4e5f6"]
    assert killed["status"] == "resumable" and killed["test_macro_f1"] is None
    rc, rows = _json(capsys, *base, "--sort", "test_macro_f1")
    assert [r["id"] for r in rows] == ["tiny-run", "tiny-20261201-101500-a1b2c3",
                                       "tiny-20261202-111500-d4e5f6"]  # no test figure: last
    rc, rows = _json(capsys, *base, "--filter", "tiny:1")
    assert [r["id"] for r in rows] == ["tiny-run"]
    rc, rows = _json(capsys, *base, "--status", "resumable")
    assert [r["id"] for r in rows] == ["tiny-20261202-111500-d4e5f6"]
    rc = main(base[:-1] + ["--sort", "lr"])
    assert rc != 0 and "sort 'lr': expected one of id, created" in capsys.readouterr().err
    assert main(["runs", "list", "--runs-dir", str(runs_world["tmp"] / "nope")]) != 0
    rc = main(base[:-1])  # the table
    assert rc == 0 and "0.7100 (n=45)" in capsys.readouterr().out


def test_runs_compare_cli(runs_world, capsys):
    rc, result = _json(capsys, "runs", "compare", "tiny-run", "tiny-20261201-101500-a1b2c3",
                       "--runs-dir", str(runs_world["runs"]), "--json")
    assert rc == 0
    differ = {r["key"]: r["values"] for r in result["differ"]}
    assert differ == {"train.lr": [3e-3, 1e-4], "train.batch_size": [16, 32]}
    f1 = next(m for m in result["metrics"] if m["split"] == "test" and m["metric"] == "macro_f1")
    assert f1["values"] == [0.69, 0.62]
    rc = main(["runs", "compare", "tiny-run", "--runs-dir", str(runs_world["runs"])])
    assert rc != 0 and "two or more different runs" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not CHROMIUM.is_file(), reason="chromium not installed")
def test_runs_pages_in_chromium(runs_world, tmp_path_factory):
    import uvicorn
    from playwright.sync_api import sync_playwright

    from mlops_dl.ui import UISettings, create_app

    settings = UISettings(registry=runs_world["registry"], runs_dir=runs_world["runs"],
                          studies_dir=runs_world["tmp"] / "studies")
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    shots = Path(os.environ.get("MLOPS_DL_UI_SCREENSHOTS")
                 or tmp_path_factory.getbasetemp() / "ui-screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
            page = browser.new_page(viewport={"width": 1360, "height": 900})
            page.on("console", lambda m: m.type == "error" and errors.append(m.text))
            page.on("response", lambda r: r.status >= 400 and errors.append(f"{r.status} {r.url}"))
            page.goto(base + "/runs", wait_until="networkidle")
            rows = page.locator("#runs tbody tr")
            assert rows.count() == 3
            first = page.locator("#runs tbody tr").first.inner_text()
            assert "tiny-20261202-111500-d4e5f6" in first and "resumable" in first
            registered = page.locator("#runs tr[data-run='tiny-run']")
            assert "tiny:1" in registered.inner_text() and "0.7100" in registered.inner_text()
            assert "n=45" in registered.inner_text() and "lr=0.003" in registered.inner_text()
            page.click("a[data-sort='test_macro_f1']")  # sort by test macro-F1, descending
            page.wait_for_load_state("networkidle")
            assert page.locator("#runs tbody tr").first.get_attribute("data-run") == "tiny-run"
            page.fill("input[name=q]", "lr=0.0001")  # filter on a param value
            page.click("#run-filter button")
            page.wait_for_load_state("networkidle")
            assert page.locator("#runs tbody tr").count() == 1
            page.goto(base + "/runs", wait_until="networkidle")
            page.check("input[value='tiny-run']")
            page.check("input[value='tiny-20261201-101500-a1b2c3']")
            page.click("#compare-runs")
            page.wait_for_load_state("networkidle")
            page.wait_for_function("document.querySelector('.chart').dataset.rendered === '1'",
                                   timeout=15_000)
            assert page.url.endswith("/runs/compare?run=tiny-20261201-101500-a1b2c3&run=tiny-run")
            params = page.locator("#compare-params").inner_text()
            assert "train.lr" in params and "train.batch_size" in params and "model.name" not in params
            assert "0.6900" in page.locator("#compare-metrics").inner_text()
            assert page.locator(".chart svg .mark-line path").count() >= 2
            page.screenshot(path=str(shots / "runs-compare.png"), full_page=True)
            page.goto(base + "/runs/tiny-run", wait_until="networkidle")
            page.wait_for_function("document.querySelector('.chart').dataset.rendered === '1'",
                                   timeout=15_000)
            assert "tiny:1" in page.locator("#run-summary").inner_text()
            assert page.locator("#per-class-test tbody tr").count() == 3
            assert "train.lr" in page.locator("#run-params").inner_text()
            page.goto(base + "/runs/compare?run=tiny-run", wait_until="networkidle")
            assert "two or more different runs" in page.content()
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    expected = f"400 {base}/runs/compare?run=tiny-run"  # the one refused page, nothing else
    assert [e for e in errors if "status of 400" not in e] == [expected], errors


def test_monitoring_charts_show_the_hour_skip_thin_slices_and_colour_sentiment():
    """Smaller fixes of the monitoring page's charts (Vega-Lite specs built in Python)."""
    from mlops_dl.ui import charts, monitoring

    spec = charts.lines_over_time("t", [{"time": "2026-03-01T12:10:00+00:00", "s": "a", "y": 1}],
                                  "y", "s", "y")
    x = spec["layer"][0]["encoding"]["x"]
    assert "%H:%M" in x["axis"]["format"] and x["scale"] == {"type": "utc"}
    # a slice of one prediction (PSI 12.3 of noise) is marked too_few by monitor.monitor_slices
    # (canvas monitoring.min_slice_predictions) and left out of every chart
    from mlops_dl.gates.canvas import MonitoringThresholds
    from mlops_dl.monitor import _slice

    thin = _slice({"n": 1, "status": "alarm", "alarms": ["psi"], "warnings": [],
                   "checks": [{"name": "confidence", "psi": 12.3}]},
                  MonitoringThresholds(min_slice_predictions=10))
    assert thin["too_few"] is True and thin["alarms"] == [] and thin["status"] == "too-few"
    slices = [{"window": {"since": "2026-03-01T13:00:00+00:00"}, "n": 50,
               "checks": [{"name": "confidence", "psi": 0.02}]}]
    assert monitoring._psi_rows(slices) == [
        {"time": "2026-03-01T13:00:00+00:00", "statistic": "confidence", "psi": 0.02}]
    mix = charts.class_mix([{"time": "t", "label": lab, "share": 0.3}
                            for lab in ("positive", "negative", "neutral")])
    colour = mix["encoding"]["color"]["scale"]
    assert dict(zip(colour["domain"], colour["range"]))["positive"] == "#16a34a"
    assert "scale" not in charts.class_mix([{"time": "t", "label": "joy", "share": 1.0}])[
        "encoding"]["color"]
