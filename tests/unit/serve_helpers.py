"""Test helpers for the serving tests: a private registry built from the shared tiny one."""

from __future__ import annotations

import json
import time
from pathlib import Path

from mlops_dl.registry import Registry


def fresh_registry(tiny_registry: Path, root: Path, versions: int = 1,
                   alias: str = "production") -> Registry:
    """``root`` with tiny:1..versions (copies of the shared tiny:1), tiny@alias -> 1."""
    src = Registry(tiny_registry).get("tiny:1")
    reg = Registry(root)
    for _ in range(versions):
        reg.register("tiny", src.path)
    reg.promote("tiny:1", alias)
    return reg


def torch_model_dir(tiny_registry: Path) -> Path:
    """The save_pretrained model of the run that tiny:1 was exported from."""
    lineage = Registry(tiny_registry).get("tiny:1").path / "lineage.json"
    return Path(json.loads(lineage.read_text())["run_dir"]) / "model"


def wait_until(check, timeout: float = 20.0, every: float = 0.05, what: str = "condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")
