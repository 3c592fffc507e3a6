"""`train.precision: auto` picks bf16-mixed only where the hardware computes bf16."""

from __future__ import annotations

import pytest

from mlops_dl import config as config_mod
from mlops_dl import machine
from mlops_dl.train import precision as precision_mod
from mlops_dl.train.precision import resolve_precision


@pytest.mark.parametrize("has_bf16,accelerator,want", [
    (True, "cpu", "bf16-mixed"), (False, "cpu", "32-true"), (True, "auto", "bf16-mixed"),
    (False, "auto", "32-true")])
def test_auto_follows_cpu_flags(monkeypatch, has_bf16, accelerator, want):
    monkeypatch.setattr(machine, "cpu_has_bf16", lambda: has_bf16)
    monkeypatch.setattr(machine, "cpu_flags", lambda: ["amx_bf16"] if has_bf16 else ["avx2"])
    monkeypatch.setattr(precision_mod, "_cuda_bf16", lambda: False)
    got, why = resolve_precision("auto", accelerator)
    assert got == want and why.startswith("auto: ")
    assert ("the CPU has amx_bf16" in why) == has_bf16


def test_auto_on_a_bf16_gpu_and_explicit_values(monkeypatch):
    monkeypatch.setattr(machine, "cpu_has_bf16", lambda: False)
    monkeypatch.setattr(precision_mod, "_cuda_bf16", lambda: True)
    assert resolve_precision("auto", "gpu")[0] == "bf16-mixed"
    assert resolve_precision("auto", "cpu")[0] == "32-true"  # a GPU does not help a CPU run
    assert resolve_precision("bf16-mixed", "cpu") == ("bf16-mixed", "train.precision")


def test_auto_is_a_valid_config_value(repo_root):
    cfg = config_mod.load(repo_root / "configs" / "quickstart.yaml", ["train.precision=auto"])
    assert cfg.train.precision == "auto"
    with pytest.raises(config_mod.ConfigError, match="train.precision"):
        config_mod.load(repo_root / "configs" / "quickstart.yaml", ["train.precision=fp8"])
