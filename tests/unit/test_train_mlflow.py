"""train.logger: mlflow against a real MLflow tracking server (temp SQLite, free port).

The runs are read back with MlflowClient: params, per-step and final metrics, the data
fingerprints, the run dir's reports as artifacts; a search's trials as nested runs; the run id
in tracking.json, the lineage and the UI's run page. The server dying mid-run (last test: it
stops the module's server) costs the training nothing.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from lightning.pytorch.callbacks import Callback

pytest.importorskip("mlflow", reason="the mlflow extra is not installed")

from mlflow.tracking import MlflowClient  # noqa: E402

from mlops_dl.errors import MlopsError  # noqa: E402
from mlops_dl.train import rundir  # noqa: E402
from mlops_dl.train.fitting import fit  # noqa: E402
from tests.fixtures.servers import free_port, mlflow_server  # noqa: E402
from tests.fixtures.tiny_search import lr_space, tiny_search_config  # noqa: E402
from tests.fixtures.tiny_train import tiny_config, write_fixture_prepared  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with mlflow_server(tmp_path_factory.mktemp("mlflow")) as (url, proc):
        yield url, proc


@pytest.fixture(scope="module")
def data_root(tmp_path_factory, tiny_rows) -> Path:
    root = tmp_path_factory.mktemp("data")
    write_fixture_prepared(root, tiny_rows)
    return root


def _cfg(data_root, model, runs, uri, **train):
    return tiny_config(data_root, model, runs, logger="mlflow", **{"mlflow.tracking_uri": uri},
                       **{"mlflow.experiment": "tests"}, **train)  # fmt: skip


@pytest.fixture(scope="module")
def tracked(server, data_root, tiny_model_dir, tmp_path_factory):
    url, _ = server
    cfg = _cfg(data_root, tiny_model_dir, tmp_path_factory.mktemp("runs"), url, max_steps=12,
               run_name="tracked", log_every_n_steps=2)  # fmt: skip
    return fit(cfg)


def test_the_run_reads_back_with_mlflow_client(server, tracked):
    url, _ = server
    record = rundir.read_tracking(tracked.run_dir)
    assert record == tracked.tracking and record["logging_errors"] == 0
    client = MlflowClient(url)
    run = client.get_run(record["run_id"])
    assert run.info.status == "FINISHED" and run.info.run_name == "tracked"
    assert run.data.params["train.lr"] == "0.003" and run.data.params["model.max_length"] == "32"
    assert run.data.params["effective_batch_size"] == "16"
    loss = client.get_metric_history(run.info.run_id, "train_loss")
    assert len({m.step for m in loss}) >= 4  # per-step metrics
    assert run.data.metrics["best_val_macro_f1"] == pytest.approx(tracked.best_score)
    assert run.data.metrics["global_step"] == 12
    fingerprints = rundir.read_json(tracked.run_dir, rundir.DATA)["fingerprints"]
    assert {f"data.fingerprint.{s}": fp for s, fp in fingerprints.items()}.items() <= run.data.tags.items()
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "data.json", "metrics.json", "env.json", "metrics.csv"} <= artifacts
    assert record["url"] == f"{url}/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}"


def test_the_run_id_reaches_lineage_and_the_ui_run_page(tracked):
    from mlops_dl.export.bundle import lineage
    from mlops_dl.ui.runs import run_page

    run_dir = tracked.run_dir
    doc = lineage(rundir.read_run(run_dir), "torchscript")
    assert doc["mlflow_run"]["run_id"] == tracked.tracking["run_id"]
    assert run_page(run_dir, "tracked")["mlflow_url"] == tracked.tracking["url"]


def test_search_trials_are_nested_runs_of_the_search(server, tiny_model_dir, tiny_rows, tmp_path):
    from mlops_dl import config as config_mod
    from mlops_dl.search import optimize

    url, _ = server
    cfg = tiny_search_config(tmp_path, tiny_model_dir, tiny_rows, space=lr_space(3e-3, 1e-2),
                             n_trials=2, enqueue_base=False)  # fmt: skip
    cfg = config_mod.replace(cfg, {"train.logger": "mlflow", "train.mlflow.tracking_uri": url,
                                   "train.mlflow.experiment": "tests-search", "train.max_steps": 6,
                                   "train.val_check_interval": 3, "search.pruner": "none"})  # fmt: skip
    run = optimize(cfg)
    parent = run.summary["mlflow_parent_run"]
    client = MlflowClient(url)
    exp = client.get_experiment_by_name("tests-search")
    children = client.search_runs([exp.experiment_id], f"tags.`mlflow.parentRunId` = '{parent}'")
    assert len(children) == 2
    assert {c.data.tags["mlflow.runName"] for c in children} == {"trial-0000", "trial-0001"}
    assert client.get_run(parent).info.status == "FINISHED"
    ids = {t.user_attrs.get("mlflow_run_id") for t in run.study.get_trials()}
    assert ids == {c.info.run_id for c in children}


def test_unreachable_server_at_start_is_one_line(data_root, tiny_model_dir, tmp_path):
    uri = f"http://127.0.0.1:{free_port()}"
    cfg = _cfg(data_root, tiny_model_dir, tmp_path, uri, max_steps=2)
    with pytest.raises(MlopsError, match=rf"MLflow tracking server {uri} unreachable") as info:
        fit(cfg)
    assert "\n" not in str(info.value)


class StopServerAt(Callback):
    def __init__(self, proc, step: int):
        self.proc, self.step = proc, step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step == self.step and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)


def test_server_gone_mid_run_keeps_training_and_counts_errors(server, data_root, tiny_model_dir,
                                                              tmp_path, caplog):  # fmt: skip
    """Last in the module: it stops the module's server."""
    url, proc = server
    cfg = _cfg(data_root, tiny_model_dir, tmp_path, url, max_steps=10, run_name="orphan",
               log_every_n_steps=2)  # fmt: skip
    with caplog.at_level("WARNING", logger="mlops_dl.train"):
        result = fit(cfg, callbacks=[StopServerAt(proc, 3)])
    assert result.global_step == 10 and rundir.has_model(result.run_dir)
    assert rundir.read_json(result.run_dir, rundir.FIT)["global_step"] == 10
    record = rundir.read_tracking(result.run_dir)
    assert record["logging_errors"] > 0 and record["first_error"]
    warnings = [r.getMessage() for r in caplog.records if "MLflow" in r.getMessage()]
    assert len(warnings) == 1 and "logging call(s) failed" in warnings[0]
