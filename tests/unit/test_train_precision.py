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


def test_can_fuse_adamw_without_a_grad_scaler_or_sharding():
    from torch import nn

    from mlops_dl.train.model import can_fuse

    net = nn.Linear(2, 2)
    assert can_fuse(net, "32-true") and can_fuse(net, "bf16-mixed", "ddp")
    assert not can_fuse(net, "16-mixed") and not can_fuse(net, "bf16-mixed", "fsdp")


def test_bf16_training_clips_with_a_fused_adamw(tiny_rows, tiny_model_dir, tmp_path):
    """Lightning's mixed-precision plugin refuses to clip for a fused optimizer; ours clips."""
    from lightning.pytorch.callbacks import Callback
    import torch

    from mlops_dl.train.fitting import fit
    from tests.fixtures.tiny_train import tiny_config, write_fixture_prepared

    class Check(Callback):
        fused, norms = [], []

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            opt = trainer.optimizers[0]
            grads = [p.grad for p in pl_module.parameters() if p.grad is not None]
            self.fused.append(opt.defaults["fused"])
            self.norms.append(float(torch.linalg.vector_norm(torch.stack(
                [torch.linalg.vector_norm(g) for g in grads]))))

    write_fixture_prepared(tmp_path / "data", tiny_rows)
    cfg = tiny_config(tmp_path / "data", tiny_model_dir, tmp_path / "runs", max_steps=3,
                      precision="bf16-mixed", grad_clip=1e-3, checkpoint_every_n_steps=0)
    check = Check()
    assert fit(cfg, callbacks=[check]).global_step == 3
    assert check.fused == [True] * 3 and max(check.norms) <= 1e-3 * 1.01
