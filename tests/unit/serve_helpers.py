"""Test helpers for the serving tests: a private registry built from the shared tiny one."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from mlops_dl.registry import open_registry, Registry
def fresh_registry(tiny_registry: Path, root: Path, versions: int = 1,
                   alias: str = "production") -> Registry:
    """``root`` with tiny:1..versions (copies of the shared tiny:1), tiny@alias -> 1."""
    src = open_registry(tiny_registry).get("tiny:1")
    reg = open_registry(root)
    for _ in range(versions):
        reg.register("tiny", src.path)
    reg.promote("tiny:1", alias)
    return reg


def torch_model_dir(tiny_registry: Path) -> Path:
    """The save_pretrained model of the run that tiny:1 was exported from."""
    lineage = open_registry(tiny_registry).get("tiny:1").path / "lineage.json"
    return Path(json.loads(lineage.read_text())["run_dir"]) / "model"


def wait_until(check, timeout: float = 20.0, every: float = 0.05, what: str = "condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(root: Path, ref: str, *sets: str):
    """`mlops-dl serve REF` as a real process on a free loopback port, until ready; killed
    on exit. Yields {"url", "port", "proc"}; ``sets`` are serve.* overrides (key=value)."""
    port = free_port()
    cmd = [sys.executable, "-m", "mlops_dl", "serve", ref, "--port", str(port),
           "--registry", str(root)]
    for item in sets:
        cmd += ["--set", item]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        def ready():
            if proc.poll() is not None:
                raise AssertionError(f"server exited: {proc.stdout.read()}")
            try:
                return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, timeout=60, every=0.2, what="server ready")
        yield {"url": url, "port": port, "proc": proc}
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
