"""Monitoring, acceptance, labelling and reports stay off torch / lightning / transformers."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.unit.monitor_helpers import REPO

MODULES = ["mlops_dl.monitor", "mlops_dl.gates.canvas", "mlops_dl.gates.accept", "mlops_dl.gates.promote",
           "mlops_dl.gates.behaviour", "mlops_dl.monitor.feedback", "mlops_dl.reports.html", "mlops_dl.reports.data",
           "mlops_dl.reports.run", "mlops_dl.reports.compare", "mlops_dl.reports.monitor",
           "mlops_dl.cli.monitor", "mlops_dl.cli.gates", "mlops_dl.cli.label", "mlops_dl.cli.report",
           "mlops_dl.cli.bench", "mlops_dl.cli.serve"]
HEAVY = ["torch", "lightning", "pytorch_lightning", "transformers"]


def _run(code: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_modules_do_not_import_heavy_libraries():
    code = ("import importlib, json, sys\n"
            f"for m in {MODULES!r}: importlib.import_module(m)\n"
            f"print(json.dumps(sorted(h for h in {HEAVY!r} if h in sys.modules)))\n")
    assert _run(code) == []


def test_canvas_show_command_runs_without_torch():
    canvas = str(REPO / "configs" / "canvas.yaml")
    code = ("import json, sys\nfrom mlops_dl.cli import main\n"
            f"rc = main(['canvas', 'show', '--canvas', {canvas!r}, '--json'])\n"
            f"print(json.dumps([h for h in {HEAVY!r} if h in sys.modules] + ([] if rc == 0 else ['rc'])))\n")
    assert _run(code) == []
