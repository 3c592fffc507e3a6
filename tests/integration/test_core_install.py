"""The torch-free core install (`pip install .`, no extras) serves a registered model.

This is what the Docker image (scripts/docker/Dockerfile) does, proved without a Docker engine:
a fresh venv, the core install only (torch, transformers and lightning must not come in), then
`mlops-dl serve` from that venv on a free loopback port answers one prediction.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import venv

import httpx
import pytest

from tests.unit.serve_helpers import fresh_registry

pytestmark = pytest.mark.slow


def test_core_install_serves_without_torch(tiny_registry, repo_root, tmp_path):
    env_dir = tmp_path / "core-venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    pip = subprocess.run([str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q",
                          str(repo_root)], capture_output=True, text=True, timeout=900)
    assert pip.returncode == 0, pip.stderr[-3000:]
    listed = subprocess.run([str(py), "-m", "pip", "list", "--format=freeze"],
                            capture_output=True, text=True).stdout.lower()
    for heavy in ("torch", "transformers", "lightning", "datasets", "optuna"):
        assert f"\n{heavy}==" not in f"\n{listed}", f"core install pulled {heavy}"

    reg = fresh_registry(tiny_registry, tmp_path / "registry")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([str(env_dir / "bin" / "mlops-dl"), "serve", "tiny@production",
                             "--port", str(port), "--registry", str(reg.root),
                             "--set", f"serve.log_path={tmp_path / 'pred.jsonl'}"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, status = time.time() + 90, None
        while time.time() < deadline and proc.poll() is None:
            try:
                r = httpx.post(f"http://127.0.0.1:{port}/v1/predict",
                               json={"texts": ["what a great day"]}, timeout=5)
                status = r.status_code
                if status == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        assert status == 200, proc.stdout.read() if proc.poll() is not None else status
        assert r.json()["model"] == "tiny" and r.json()["version"] == 1
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    probe = subprocess.run([str(py), "-c", "import importlib.util as u; print(any(u.find_spec(m) "
                            "for m in ('torch', 'transformers', 'lightning')))"],
                           capture_output=True, text=True)
    assert probe.stdout.strip() == "False"
    assert sys.prefix != str(env_dir)
