"""Fine-tuning on the tiny random BERT and fixture data: run dir, learning, resume, errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from lightning.pytorch.callbacks import Callback

from mlops_dl import config as config_mod
from mlops_dl.data.prepared import load_prepared
from mlops_dl.errors import ConfigError, DataError, MlopsError
from mlops_dl.train.model import class_weights
from mlops_dl.train.fitting import fit
from tests.fixtures.tiny_train import tiny_config, write_fixture_prepared


@pytest.fixture(scope="module")
def data_root(tmp_path_factory, tiny_rows) -> Path:
    root = tmp_path_factory.mktemp("data")
    write_fixture_prepared(root, tiny_rows)
    return root


class Recorder(Callback):
    """What search's pruning callback sees: val_macro_f1 after each validation."""

    def __init__(self):
        self.scores: list[float] = []

    def on_validation_end(self, trainer, pl_module):
        self.scores.append(float(trainer.callback_metrics["val_macro_f1"]))


@pytest.fixture(scope="module")
def trained(data_root, tiny_model_dir, tmp_path_factory):
    cfg = tiny_config(data_root, tiny_model_dir, tmp_path_factory.mktemp("runs"), max_steps=60, lr=5e-3)
    recorder = Recorder()
    return cfg, fit(cfg, callbacks=[recorder]), recorder


def test_fit_learns_and_reports_best_score(trained):
    cfg, result, recorder = trained
    assert result.global_step == 60
    log = pd.read_csv(result.run_dir / "logs" / "metrics.csv")
    loss = log["train_loss"].dropna().tolist()
    assert len(loss) >= 6
    assert sum(loss[-3:]) / 3 < 0.8 * sum(loss[:3]) / 3  # loss falls
    assert len(recorder.scores) >= 3  # the callbacks hook sees every validation
    assert result.best_score == pytest.approx(max(recorder.scores))
    assert result.best_score > 0.6  # the fixture rows are learnable
    assert log["val_macro_f1"].dropna().max() == pytest.approx(result.best_score)


def test_run_dir_follows_the_contract(trained, data_root):
    cfg, result, _ = trained
    run = result.run_dir
    assert config_mod.load(run / "config.yaml") == cfg
    env = json.loads((run / "env.json").read_text())
    assert {"python", "torch", "transformers", "lightning", "cpu", "gpus", "git"} <= set(env)
    info = json.loads((run / "data.json").read_text())
    card = load_prepared(data_root / "tiny")
    assert info["fingerprints"] == card.fingerprints and info["labels"] == card.labels
    assert Path(info["data_card"]).is_file()
    model_files = {p.name for p in (run / "model").iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= model_files
    assert not [n for n in model_files if n.endswith((".bin", ".pt", ".pkl", ".ckpt"))]  # no pickle
    mcfg = json.loads((run / "model" / "config.json").read_text())
    assert mcfg["id2label"] == {"0": "negative", "1": "neutral", "2": "positive"}
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert len(list((run / "checkpoints").glob("best-*.ckpt"))) == 1
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["validation"]["macro_f1"] == pytest.approx(result.best_score)
    fit_info = json.loads((run / "fit.json").read_text())
    assert fit_info["global_step"] == 60


def test_saved_model_is_the_best_checkpoint(trained):
    from transformers import AutoModelForSequenceClassification

    _, result, _ = trained
    saved = AutoModelForSequenceClassification.from_pretrained(result.run_dir / "model").state_dict()
    best = torch.load(result.best_checkpoint, map_location="cpu", weights_only=False)["state_dict"]
    for key, value in saved.items():
        assert torch.equal(value, best["network." + key]), key


def test_class_weights_are_inverse_frequency():
    assert class_weights([0, 0, 0, 1], 2) == pytest.approx([4 / 6, 2.0])
    assert class_weights([0, 1, 2], 3) == pytest.approx([1.0, 1.0, 1.0])


def test_class_weighted_training_runs(data_root, tiny_model_dir, tmp_path):
    cfg = tiny_config(data_root, tiny_model_dir, tmp_path, max_steps=5, class_weights=True,
                      checkpoint_every_n_steps=0)  # fmt: skip
    result = fit(cfg)
    assert result.global_step == 5
    assert result.best_score is not None  # stopped before a scheduled check: validated at the end


def test_bad_precision_is_a_config_error(repo_root):
    with pytest.raises(ConfigError, match="train.precision"):
        config_mod.load(repo_root / "configs" / "quickstart.yaml", ["train.precision=64"])


def test_fp16_on_cpu_is_a_config_error(repo_root):
    with pytest.raises(ConfigError, match=r"quickstart\.yaml: train\.precision: 16-mixed needs a GPU"):
        config_mod.load(repo_root / "configs" / "quickstart.yaml",
                        ["train.precision=16-mixed", "train.accelerator=cpu"])


@pytest.mark.parametrize("key,value,why", [
    ("lr", 0.0, r"must be > 0, got 0\.0"), ("warmup_ratio", 1.5, r"must be in \[0, 1\)"),
    ("grad_accum", 0, "must be >= 1"), ("batch_size", -2, "must be > 0"),
    ("val_check_interval", 0, "must be > 0"),
])  # fmt: skip
def test_bad_train_values_fail_at_load_naming_file_and_key(repo_root, key, value, why):
    """Range checks live in TrainConfig: a bad value fails when the config loads, not in fit."""
    with pytest.raises(ConfigError, match=rf"quickstart\.yaml: train\.{key}: {why}"):
        config_mod.load(repo_root / "configs" / "quickstart.yaml", [f"train.{key}={value}"])


def test_missing_prepared_data_is_a_data_error(tiny_model_dir, tmp_path):
    cfg = tiny_config(tmp_path / "nowhere", tiny_model_dir, tmp_path)
    with pytest.raises(DataError, match="data prepare"):
        fit(cfg)


def test_offline_hub_model_fails_clearly(data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = config_mod.replace(tiny_config(data_root, tmp_path, tmp_path), {"model.name": "no-such-org/no-such-model"})
    with pytest.raises(MlopsError, match="hub.*offline"):
        fit(cfg)


def test_missing_model_dir_fails_clearly(data_root, tmp_path):
    cfg = tiny_config(data_root, tmp_path / "absent-model", tmp_path)
    with pytest.raises(MlopsError, match="does not exist"):
        fit(cfg)


def test_resume_needs_a_last_checkpoint(data_root, tiny_model_dir, tmp_path):
    cfg = tiny_config(data_root, tiny_model_dir, tmp_path)
    with pytest.raises(MlopsError, match="last.ckpt"):
        fit(cfg, resume=tmp_path / "empty-run")


def test_a_finished_run_dir_is_not_overwritten(trained):
    cfg, result, _ = trained
    with pytest.raises(MlopsError, match="--resume"):
        fit(cfg, run_dir=result.run_dir)


def _checkpoint_step(path: Path) -> int:
    return int(torch.load(path, map_location="cpu", weights_only=False)["global_step"])


def test_resume_after_sigkill_continues_the_step_count(data_root, tiny_model_dir, tmp_path):
    """A real crash: SIGKILL the training process mid-run, then --resume the run dir."""
    steps = 150
    cfg = tiny_config(data_root, tiny_model_dir, tmp_path / "runs", max_steps=steps, lr=1e-3,
                      run_name="killed", checkpoint_every_n_steps=10, val_check_interval=1.0)  # fmt: skip
    config_mod.save(cfg, tmp_path / "cfg.yaml")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    cmd = [sys.executable, "-m", "mlops_dl", "train", "--config", str(tmp_path / "cfg.yaml")]
    proc = subprocess.Popen(cmd, cwd=Path(__file__).resolve().parents[2], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    last = tmp_path / "runs" / "killed" / "checkpoints" / "last.ckpt"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if last.is_file() and _checkpoint_step(last) >= 20:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "training finished (or died) before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    killed_at = _checkpoint_step(last)
    assert 20 <= killed_at < steps

    result = fit(cfg, resume=tmp_path / "runs" / "killed")
    assert result.resumed_from_step == killed_at
    assert result.global_step == steps  # continued past the checkpoint to the end
    assert _checkpoint_step(last) == steps
    resumed_log = pd.read_csv(tmp_path / "runs" / "killed" / "logs" / "resume-1" / "metrics.csv")
    assert resumed_log["step"].min() >= killed_at  # no step was re-counted from zero
    assert (result.run_dir / "model" / "model.safetensors").is_file()


def test_train_prints_its_run_dir_before_the_work(data_root, tmp_path, capsys):
    """A run that dies (here: no model) has already said where its run dir is."""
    from mlops_dl.cli import main

    cfg = tiny_config(data_root, tmp_path / "absent-model", tmp_path / "runs", run_name="early")
    config_mod.save(cfg, tmp_path / "cfg.yaml")
    rc = main(["train", "--config", str(tmp_path / "cfg.yaml")])
    captured = capsys.readouterr()
    run_dir = tmp_path / "runs" / "early"
    assert rc != 0 and "does not exist" in captured.err
    assert f"run dir: {run_dir} (if interrupted: mlops-dl train --resume {run_dir})" in captured.out
