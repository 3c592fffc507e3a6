"""Ray: Train (TorchTrainer, 2 workers x 1 CPU), a search on Ray tasks over PostgreSQL, and
``launch --ray-address`` through the job server, all on one local ``ray start --head`` (2 CPUs)
that the module starts and stops.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path

import pytest

pytest.importorskip("ray.train", reason="the ray extra (ray[train]) is not installed")

from mlops_dl import config as config_mod  # noqa: E402
from mlops_dl.errors import MlopsError  # noqa: E402
from mlops_dl.train import rundir  # noqa: E402
from mlops_dl.train.ray_train import RayPlan, check_fits, fit_on_ray, require_ray_train  # noqa: E402
from tests.fixtures.servers import ray_head  # noqa: E402
from tests.fixtures.tiny_search import lr_space, tiny_search_config  # noqa: E402
from tests.fixtures.tiny_train import tiny_config, write_fixture_prepared  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def head(tmp_path_factory):
    with ray_head(tmp_path_factory.mktemp("ray-head"), num_cpus=2) as info:
        yield info


@pytest.fixture(scope="module")
def data_root(tmp_path_factory, tiny_rows) -> Path:
    root = tmp_path_factory.mktemp("data")
    write_fixture_prepared(root, tiny_rows)
    return root


def test_two_workers_train_a_run_dir_that_export_accepts(head, data_root, tiny_model_dir, tmp_path):
    from mlops_dl.export import export_run

    import subprocess

    cfg = tiny_config(data_root, tiny_model_dir, tmp_path / "runs", max_steps=6, run_name="on-ray",
                      checkpoint_every_n_steps=0)  # fmt: skip
    config_mod.save(cfg, tmp_path / "ray.yaml")
    # through the CLI, in a process of its own, as a user runs it
    out = subprocess.run([sys.executable, "-c", "from mlops_dl.cli import run; run()", "train",
                          "--config", str(tmp_path / "ray.yaml"), "--executor", "ray",
                          "--address", head["gcs"], "--workers", "2", "--cpus-per-worker", "1"],
                         capture_output=True, text=True, timeout=600, cwd=REPO,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stderr[-3000:]
    run_dir = tmp_path / "runs" / "on-ray"
    fit = rundir.read_json(run_dir, rundir.FIT)
    assert fit["world_size"] == 2 and fit["effective_batch_size"] == 32
    assert fit["executor"] == "ray" and fit["run_dir"] == str(run_dir)
    assert Path(fit["ray_storage"]).is_relative_to(run_dir / "ray")  # Ray Train's checkpoints
    assert rundir.read_metrics(run_dir)["validation"]["n"] == 45
    assert (rundir.logs_dir(run_dir) / "metrics.csv").is_file()
    version = export_run(run_dir, name="on-ray", registry=tmp_path / "registry",
                         overrides=["export.quantize=none", "export.portable=false",
                                    "export.validation_samples=32", "export.int8_static=false",
                                    "export.max_f1_drop=100"])  # fmt: skip
    assert version.version.version == 1


def test_more_workers_than_the_cluster_holds_is_refused_before_start(head, data_root, tiny_model_dir,
                                                                     tmp_path):  # fmt: skip
    cfg = tiny_config(data_root, tiny_model_dir, tmp_path / "runs", run_name="too-big")
    with pytest.raises(MlopsError, match=r"needs 3 CPUs .* the Ray cluster has 2 CPUs and 0 GPUs"):
        fit_on_ray(cfg, RayPlan(address=head["gcs"], workers=3))
    assert not (tmp_path / "runs" / "too-big").exists()  # nothing started
    with pytest.raises(MlopsError, match="needs 2 CPUs and 2 GPUs; the Ray cluster has 8 CPUs and 0 GPUs"):
        check_fits(RayPlan(workers=2, gpus_per_worker=1), {"CPU": 8.0})


def test_executor_ray_without_the_extra_is_one_line(monkeypatch, capsys, tmp_path):
    from mlops_dl.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # what a venv without Ray imports
    with pytest.raises(MlopsError, match=r"mlops-dl\[ray\]"):
        require_ray_train()
    rc = main(["train", "--config", str(REPO / "configs" / "quickstart.yaml"), "--executor", "ray"])
    err = capsys.readouterr().err
    assert rc != 0 and "pip install 'mlops-dl[ray]'" in err and "Traceback" not in err
    rc = main(["search", "--config", str(REPO / "configs" / "quickstart-search.yaml"), "--executor", "ray"])
    assert rc != 0 and "mlops-dl[ray]" in capsys.readouterr().err


@pytest.fixture(scope="module")
def pg_url() -> str:
    psycopg2 = pytest.importorskip("psycopg2")
    for user in ("postgres", "root"):
        try:
            psycopg2.connect(host="127.0.0.1", port=5432, user=user, dbname="test", connect_timeout=3).close()
            return f"postgresql+psycopg2://{user}@127.0.0.1:5432/test"
        except psycopg2.OperationalError:
            continue
    pytest.skip("PostgreSQL unreachable at 127.0.0.1:5432")


@pytest.mark.postgres
def test_search_on_two_ray_workers_ends_with_the_configured_trials(head, pg_url, tiny_model_dir,
                                                                   tiny_rows, tmp_path):  # fmt: skip
    import optuna
    from optuna.trial import TrialState

    from mlops_dl.search import optimize

    name = f"mlops-dl-ray-{uuid.uuid4().hex[:10]}"
    cfg = tiny_search_config(tmp_path, tiny_model_dir, tiny_rows, space=lr_space(3e-3, 1e-2),
                             n_trials=2, storage=pg_url, study_name=name, workers=2,
                             pruner="none", enqueue_base=False)  # fmt: skip
    cfg = config_mod.replace(cfg, {"train.max_steps": 4, "train.val_check_interval": 4})
    try:
        run = optimize(cfg, RayPlan(address=head["gcs"], workers=2, cpus_per_worker=1))
        trials = run.study.get_trials(deepcopy=False)
        assert len(trials) == 2 and all(t.state == TrialState.COMPLETE for t in trials)
        assert len({t.user_attrs["worker"] for t in trials}) == 2  # one trial per Ray worker
        assert run.trials_run == 2
    finally:
        try:
            optuna.delete_study(study_name=name, storage=pg_url)
        except KeyError:
            pass


def test_launch_submits_the_job_to_the_ray_job_server(head, data_root, tiny_model_dir, tmp_path, capsys):
    from mlops_dl.cli import main

    cfg = tiny_config(data_root, tiny_model_dir, tmp_path / "runs", max_steps=3, run_name="job")
    config_mod.save(cfg, tmp_path / "cfg.yaml")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    rc = main(["launch", str(tmp_path / "cfg.yaml"), "--ray-address", head["dashboard"], "--wait",
               "--json"])  # fmt: skip
    out = capsys.readouterr()
    assert rc == 0, out.err[-2000:]
    info = json.loads(out.out.strip().splitlines()[-1])
    assert info["status"] == "SUCCEEDED"
    assert info["entrypoint"] == "mlops-dl train --config config.yaml"
    assert rundir.has_model(tmp_path / "runs" / "job")  # the head is this machine: same paths
    assert "data.output_dir" in out.err  # the warning: the job reads the data by path
