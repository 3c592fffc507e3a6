"""The serving path (registry, compare, runtime, serve, bench, monitor) never loads torch."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SERVING = ["mlops_dl.registry", "mlops_dl.registry.local", "mlops_dl.registry.s3",
           "mlops_dl.registry.s3client", "mlops_dl.registry.cache", "mlops_dl.cli.aliases",
           "mlops_dl.gates.compare", "mlops_dl.runtime", "mlops_dl.serve",
           "mlops_dl.serve.app", "mlops_dl.serve.routes", "mlops_dl.serve.v1",
           "mlops_dl.bench.run", "mlops_dl.monitor", "mlops_dl.machine", "mlops_dl.runtime.variants",
           "mlops_dl.runtime.auto", "mlops_dl.runtime.openvino", "mlops_dl.bench.ratios",
           "mlops_dl.bench.peaks", "mlops_dl.bench.rounds", "openvino",
           "mlops_dl.serve.server", "mlops_dl.bench.run", "mlops_dl.monitor", "mlops_dl.serve.scoring",
           "mlops_dl.tables", "mlops_dl.gates.behaviour", "mlops_dl.quiet",
           "mlops_dl.serve.oip", "mlops_dl.serve.triton", "mlops_dl.serve.ray_scoring",
           "mlops_dl.ui", "mlops_dl.ui.routes", "mlops_dl.cli.ui"]
HEAVY = ["torch", "lightning", "pytorch_lightning", "transformers"]


def test_serving_modules_do_not_import_torch():
    present = [m for m in SERVING if importlib.util.find_spec(m) is not None]
    assert "mlops_dl.registry" in present and "mlops_dl.gates.compare" in present
    assert "mlops_dl.ui" in present
    code = (
        "import importlib, json, sys\n"
        f"for m in {present!r}: importlib.import_module(m)\n"
        f"print(json.dumps(sorted(h for h in {HEAVY!r} if h in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [], f"heavy imports from {present}"


def test_registry_cli_commands_run_without_torch(tmp_path):
    code = (
        "import sys\n"
        "from mlops_dl.cli import main\n"
        f"main(['registry', 'list', '--registry', {str(tmp_path)!r}, '--json'])\n"
        "assert not [h for h in ('torch', 'transformers', 'lightning') if h in sys.modules], sys.modules.keys()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert out.returncode == 0, out.stderr
