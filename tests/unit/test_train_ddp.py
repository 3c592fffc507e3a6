"""DDP on CPU (gloo, 2 processes) through the CLI: killed mid-run, resumed, metrics over ranks.

One 2-process run of the tiny BERT is killed (its whole process group) after a checkpoint,
then resumed with ``--resume`` as 2 processes again; the run dir it leaves is checked for
what DDP must not break: one run dir, one announcement, validation figures over the whole
split (equal to a single-process evaluation of the saved model), the effective batch size.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from mlops_dl import config as config_mod
from mlops_dl.errors import ConfigError
from mlops_dl.train import rundir
from mlops_dl.train.fitting import launch_rank_zero
from tests.fixtures.tiny_train import tiny_config, write_fixture_prepared

REPO = Path(__file__).resolve().parents[2]
STEPS = 48
DDP = ["--set", "train.devices=2", "--set", "train.strategy=ddp"]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "mlops_dl", *args]


def _env() -> dict:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
            "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}  # fmt: skip


def _step(ckpt: Path) -> int:
    try:
        return int(torch.load(ckpt, map_location="cpu", weights_only=False, mmap=True)["global_step"])
    except Exception:  # noqa: BLE001 - being written
        return -1


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory, tiny_model_dir, tiny_rows):
    """(run dir, resumed CLI output, step killed at): 2 ranks killed mid-run, then resumed."""
    root = tmp_path_factory.mktemp("ddp")
    write_fixture_prepared(root / "data", tiny_rows)
    cfg = tiny_config(root / "data", tiny_model_dir, root / "runs", max_steps=STEPS, lr=5e-3,
                      run_name="ddp", checkpoint_every_n_steps=4, num_threads=1)  # fmt: skip
    config_mod.save(cfg, root / "cfg.yaml")
    run_dir = root / "runs" / "ddp"
    last = rundir.last_checkpoint(run_dir)
    proc = subprocess.Popen(_cli("train", "--config", str(root / "cfg.yaml"), *DDP), cwd=root,
                            env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if last.is_file() and _step(last) >= 8:
            break
        time.sleep(0.1)
    assert proc.poll() is None, "the DDP run ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)  # the launcher and the rank it started
    proc.wait(timeout=30)
    killed_at = _step(last)
    assert 8 <= killed_at < STEPS
    done = subprocess.run(_cli("train", "--resume", str(run_dir), *DDP), cwd=root, env=_env(),
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return run_dir, done.stdout, killed_at


def test_resumed_ddp_run_continues_from_the_checkpoint(ddp_run):
    run_dir, _, killed_at = ddp_run
    fit = rundir.read_json(run_dir, rundir.FIT)
    assert fit["resumed_from_step"] == killed_at
    assert fit["global_step"] == STEPS
    assert _step(rundir.last_checkpoint(run_dir)) == STEPS
    assert rundir.has_model(run_dir)


def test_one_run_dir_and_rank_zero_prints_once(ddp_run):
    run_dir, out, _ = ddp_run
    assert sorted(p.name for p in run_dir.parent.iterdir()) == ["ddp"]
    assert out.count("run dir: ") == 1
    assert out.count("next: mlops-dl evaluate") == 1
    assert out.count("run_dir: ") == 1


def test_effective_batch_is_recorded(ddp_run):
    run_dir, out, _ = ddp_run
    fit = rundir.read_json(run_dir, rundir.FIT)
    assert fit["world_size"] == 2
    assert fit["effective_batch_size"] == 16 * 2 * 1  # batch_size x devices x num_nodes x grad_accum
    assert "effective_batch_size: 32" in out


def test_validation_metrics_cover_the_whole_split(ddp_run):
    """The 2-rank figures (confusion summed over ranks) equal one process scoring the model."""
    from mlops_dl.train.evaluate import evaluate_run

    run_dir, _, _ = ddp_run
    ddp_report = rundir.read_metrics(run_dir)["validation"]
    assert ddp_report["n"] == 45  # every validation row once, none padded or dropped
    single = evaluate_run(run_dir, split="test", baseline=False)
    for key in ("accuracy", "macro_f1", "macro_precision", "macro_recall"):
        assert single["validation"][key] == pytest.approx(ddp_report[key], abs=1e-6)
    assert single["validation"]["confusion_matrix"] == ddp_report["confusion_matrix"]
    assert single["test"]["n"] == 45


def test_ddp_on_one_device_is_refused_naming_the_key(tmp_path, tiny_model_dir):
    with pytest.raises(ConfigError, match=r"train\.strategy.*train\.devices to 2"):
        tiny_config(tmp_path, tiny_model_dir, tmp_path, strategy="ddp", devices=1)


@pytest.mark.parametrize("env, zero", [
    ({}, True), ({"LOCAL_RANK": "1"}, False), ({"LOCAL_RANK": "0", "NODE_RANK": "1"}, False),
    ({"RANK": "0", "LOCAL_RANK": "0"}, True), ({"RANK": "3"}, False), ({"SLURM_PROCID": "2"}, False),
])  # fmt: skip
def test_rank_zero_is_known_from_the_launcher_env(monkeypatch, env, zero):
    for key in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert launch_rank_zero() is zero

