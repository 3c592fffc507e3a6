"""The serving path (registry, compare, runtime, serve, bench, monitor) never loads torch."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# the serving path: every module of these packages (walked, so a new module is covered), and
# the bench's own modules but its PyTorch baselines
SERVING_PACKAGES = ("mlops_dl.registry", "mlops_dl.runtime", "mlops_dl.serve", "mlops_dl.monitor",
                    "mlops_dl.ui", "mlops_dl.gates", "mlops_dl.bench")
TORCH_ALLOWED = {"mlops_dl.bench.torch_engines"}  # the PyTorch baselines
NOT_HERE = {"mlops_dl.serve.triton_tokenizer"}  # Triton's Python backend model: runs in Triton
EXTRA = ["mlops_dl.machine", "mlops_dl.tables", "mlops_dl.quiet", "mlops_dl.cli.aliases",
         "mlops_dl.cli.ui", "openvino"]


def serving_modules() -> list[str]:
    """Every module of the serving packages, found by walking them."""
    import pkgutil

    found = []
    for name in SERVING_PACKAGES:
        pkg = importlib.import_module(name)
        found.append(name)
        found += [m.name for m in pkgutil.walk_packages(pkg.__path__, name + ".")]
    return [m for m in found if m not in TORCH_ALLOWED | NOT_HERE]


SERVING = serving_modules() + EXTRA
HEAVY = ["torch", "lightning", "pytorch_lightning", "transformers"]


def test_serving_modules_do_not_import_torch():
    present = [m for m in SERVING if importlib.util.find_spec(m) is not None]
    assert "mlops_dl.registry" in present and "mlops_dl.gates.compare" in present
    assert {"mlops_dl.ui", "mlops_dl.gates.promote", "mlops_dl.runtime.load",
            "mlops_dl.runtime.auto", "mlops_dl.runtime.predictor", "mlops_dl.runtime.openvino",
            "mlops_dl.runtime.onnxruntime", "mlops_dl.serve.ray_scoring"} <= set(present)
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
