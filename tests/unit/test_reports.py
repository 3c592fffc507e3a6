"""HTML reports: self-contained (base64 PNGs, no external assets), rendered in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from mlops_dl.cli import main
from mlops_dl.data.plots import label_balance_png
from mlops_dl.data.prepared import fingerprint, write_prepared
from mlops_dl.monitor import monitor_log
from mlops_dl.registry import open_registry
from mlops_dl.reports import write
from mlops_dl.reports.monitor import monitor_report
from mlops_dl.runtime import from_registry
from mlops_dl.gates.canvas import load_canvas
from tests.unit.monitor_helpers import LABELS, canvas_file, copy_registry, write_log

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(n)), None)
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["'](?!data:)""", re.I)


def _prepared(root):
    frame = pd.DataFrame({"text": [f"text number {i}" for i in range(30)], "label": [i % 3 for i in range(30)]})
    frames = {"train": frame[:20], "validation": frame[20:25], "test": frame[25:]}
    balance = {s: {lab: int((f["label"] == i).sum()) for i, lab in enumerate(LABELS)} for s, f in frames.items()}
    card = {"name": "mini", "labels": LABELS, "splits": {s: len(f) for s, f in frames.items()},
            "label_balance": balance, "fingerprints": {s: fingerprint(f) for s, f in frames.items()},
            "cleaning": {"steps": [{"step": "drop_empty", "dropped": 0, "rows": 30}]},
            "sources": [{"kind": "file", "path": "x.csv", "rows": 30, "sha256": "ab" * 32}],
            "lengths": {"train": {"chars": {"count": 20, "min": 13, "mean": 13.5, "p50": 13, "p95": 14, "max": 14}}}}
    return write_prepared(root / "mini", frames, card, {"label_balance.png": label_balance_png(balance, LABELS, "balance")})


@pytest.fixture(scope="module")
def reports(tmp_path_factory, tiny_registry, tiny_run_dir):
    """The four reports, written through the CLI (data, run, compare) and monitor --html."""
    tmp = tmp_path_factory.mktemp("reports")
    reg = open_registry(copy_registry(tiny_registry, tmp / "registry"))
    shutil.copytree(reg.get("tiny:1").path, tmp / "copy", ignore=shutil.ignore_patterns("attachments", "tags"))
    reg.register("tiny", tmp / "copy")
    out = {name: tmp / f"{name}.html" for name in ("data", "run", "compare", "monitor")}
    assert main(["report", "data", str(_prepared(tmp)), "--out", str(out["data"])]) == 0
    assert main(["report", "run", str(tiny_run_dir), "--out", str(out["run"])]) == 0
    assert main(["report", "compare", "tiny:1", "tiny:2", "--registry", str(reg.root),
                 "--out", str(out["compare"])]) == 0
    predictor = from_registry("tiny:1", reg.root, provider="cpu")
    log = write_log(tmp / "p.jsonl", predictor, [f"great movie number {i}" for i in range(120)])
    report = monitor_log([log], "tiny:1", load_canvas(canvas_file(tmp)), reg)
    write(out["monitor"], monitor_report(report))
    return out


@pytest.mark.parametrize("name,expected", [
    ("data", ["Data card: mini", "Cleaning", "drop_empty", "Label balance"]),
    ("run", ["Run tiny-run", "macro_f1", "Per class", "confusion"]),
    ("compare", ["Compare tiny:1 vs tiny:2", "Per-class F1", "McNemar"]),
    ("monitor", ["Monitoring tiny:1", "Drift checks", "predicted_label", "Traffic and latency"]),
])
def test_reports_are_self_contained(reports, name, expected):
    doc = reports[name].read_text(encoding="utf-8")
    for text in expected:
        assert text in doc, f"{name}: {text!r} missing"
    assert doc.count("data:image/png;base64,") >= 1
    assert not EXTERNAL.search(doc), f"{name}: references an external asset"
    assert "<script" not in doc


def test_run_report_needs_metrics(tmp_path, capsys):
    assert main(["report", "run", str(tmp_path), "--out", str(tmp_path / "r.html")]) == 2
    assert "no metrics.json" in " ".join(capsys.readouterr().err.split())


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (scripts/run_tests.sh installs "
                                             "it with apt-get when run as root)")
@pytest.mark.parametrize("name", ["data", "run", "compare", "monitor"])
def test_reports_render_in_headless_chromium(reports, name, tmp_path):
    import matplotlib.image

    shot = tmp_path / f"{name}.png"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--screenshot={shot}", "--window-size=1200,1600", reports[name].as_uri()],
                   capture_output=True, timeout=120, check=False)
    assert shot.is_file() and shot.stat().st_size > 10_000
    pixels = matplotlib.image.imread(shot)[..., :3]  # (H, W, 3)
    assert pixels.shape[:2] == (1600, 1200)
    colors = np.unique((pixels.reshape(-1, 3) * 255).astype(np.uint8), axis=0)
    assert len(colors) > 50, f"{name}: the screenshot is nearly one colour ({len(colors)} colours)"
    ink = (pixels.mean(axis=2) < 0.5).mean()  # share of dark pixels: text, plot lines
    assert 0.002 < ink < 0.5, f"{name}: {ink:.4f} of the page is dark"
