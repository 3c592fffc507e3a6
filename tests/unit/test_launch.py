"""``mlops-dl launch``: the SkyPilot task it writes, read back with SkyPilot's own parser."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from mlops_dl import config as config_mod
from mlops_dl.cli import main
from tests.fixtures.tiny_train import tiny_config, write_fixture_prepared



@pytest.fixture(scope="module")
def config_file(tmp_path_factory, tiny_model_dir, tiny_rows) -> Path:
    root = tmp_path_factory.mktemp("launch")
    write_fixture_prepared(root / "data", tiny_rows)
    cfg = tiny_config(root / "data", tiny_model_dir, root / "runs")
    config_mod.save(cfg, root / "cfg.yaml")
    return root / "cfg.yaml"


def _launch(capsys, *args: str) -> tuple[int, dict, str]:
    rc = main(["launch", *args, "--json"])
    out = capsys.readouterr()
    return rc, (json.loads(out.out) if rc == 0 else {}), out.err


@pytest.fixture(scope="module")
def sky():
    return pytest.importorskip("sky", reason="skypilot is not installed (see the dev notes in "
                                             "scripts/setup_venv.sh)")


def test_single_gpu_task_parses_with_skypilot(sky, config_file, tmp_path, capsys):
    rc, info, err = _launch(capsys, str(config_file), "--gpus", "L4", "--out", str(tmp_path / "t.yaml"))
    assert rc == 0, err
    task = sky.Task.from_yaml(info["task"])
    assert task.num_nodes == 1
    (res,) = task.resources
    assert res.accelerators == {"L4": 1}
    assert task.envs["TOKENIZERS_PARALLELISM"] == "false"
    assert "--set train.accelerator=gpu" in task.run and "--set train.strategy=auto" in task.run
    assert "--set train.devices=$SKYPILOT_NUM_GPUS_PER_NODE" in task.run
    assert task.run.splitlines()[-1].startswith("mlops-dl train --config $HOME/mlops-dl/config.yaml")
    assert "--index-url https://download.pytorch.org/whl/cu128" in task.setup
    mounts = task.file_mounts
    assert mounts["~/mlops-dl/config.yaml"] == info["config"]
    assert Path(mounts["~/mlops-dl/data/tiny"]).is_dir() and Path(mounts["~/mlops-dl/model"]).is_dir()
    assert err == ""  # every local file the job reads is mounted: no warning
    resolved = config_mod.load(info["config"])  # the resolved config the nodes read
    assert resolved.model.max_length == 32
    assert info["launch"] == f"sky launch -c mlops-dl {tmp_path / 't.yaml'}"


def test_two_node_ddp_task_gives_lightning_the_rendezvous(sky, config_file, tmp_path, capsys):
    rc, info, err = _launch(capsys, str(config_file), "--gpus", "A100:8", "--nodes", "2", "--cloud",
                            "aws", "--registry", "s3://models/reg", "--out", str(tmp_path / "t.yaml"))  # fmt: skip
    assert rc == 0, err
    task = sky.Task.from_yaml(info["task"])
    assert task.num_nodes == 2
    (res,) = task.resources
    assert res.accelerators == {"A100": 8} and str(res.cloud) == "AWS"
    assert task.envs["MLOPS_DL_REGISTRY"] == "s3://models/reg"
    run = task.run
    assert 'export MASTER_ADDR=$(echo "$SKYPILOT_NODE_IPS" | head -n1)' in run
    assert "export NODE_RANK=$SKYPILOT_NODE_RANK" in run
    for flag in ("train.num_nodes=$SKYPILOT_NUM_NODES", "train.strategy=ddp", "export.registry=s3://models/reg"):
        assert f"--set {flag}" in run
    run_name = yaml.safe_load(Path(info["task"]).read_text())["run"].split("train.run_name=")[1].split()[0]
    assert run_name  # one run dir name for both nodes
    assert "--env AWS_ACCESS_KEY_ID --env AWS_SECRET_ACCESS_KEY" in info["launch"]


def test_multi_node_search_runs_workers_everywhere_and_finishes_on_node_0(sky, config_file, tmp_path,
                                                                          capsys):  # fmt: skip
    rc, info, err = _launch(capsys, str(config_file), "--command", "search", "--gpus", "H100:4",
                            "--nodes", "2", "--set", "search.storage=postgresql://u@db/optuna",
                            "--out", str(tmp_path / "s.yaml"))  # fmt: skip
    assert rc == 0, err
    run = sky.Task.from_yaml(info["task"]).run
    assert 'if [ "$SKYPILOT_NODE_RANK" = "0" ]' in run
    assert run.count("--workers $SKYPILOT_NUM_GPUS_PER_NODE") == 2 and run.count("--worker-only") == 1
    assert "--set train.devices=1" in run


def test_pipeline_reading_local_files_warns_naming_them(config_file, tmp_path, capsys):
    rc, _, err = _launch(capsys, str(config_file), "--command", "pipeline", "--out", str(tmp_path / "p.yaml"))
    assert rc == 0
    assert "warning: local paths not under a file mount" in err
    cfg = config_mod.load(config_file)
    assert f"data.sources[0].path: {cfg.data.sources[0].path}" in err
    assert "export.registry (use --registry s3://...)" in err


@pytest.mark.parametrize("args, message", [
    (["--gpus", "A100:x"], "--gpus 'A100:x': expected NAME[:COUNT]"),
    (["--nodes", "2"], "--nodes > 1 needs --gpus"),
    (["--command", "pipeline", "--gpus", "A100:8", "--nodes", "2"], "launch pipeline runs on one node"),
    (["--command", "search", "--gpus", "A100:8", "--nodes", "2"], "search.storage must be an RDB URL"),
    (["--command", "predict"], "unknown command 'predict'"),
])  # fmt: skip
def test_bad_launch_requests_are_one_line(config_file, tmp_path, capsys, args, message):
    rc, _, err = _launch(capsys, str(config_file), *args, "--out", str(tmp_path / "x.yaml"))
    assert rc != 0 and message in err and "Traceback" not in err
    assert not (tmp_path / "x.yaml").exists()
