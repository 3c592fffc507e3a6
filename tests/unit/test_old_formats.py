"""A registry and a run dir written by the code before the issue-11 layout change still load.

tests/fixtures/old/ was made by commit 486c042 (see its README): the tiny run dir, its prepared
data, and the registry with that run exported as tiny:1 and promoted to production.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from mlops_dl.config import ServeConfig
from mlops_dl.errors import DataError
from mlops_dl.export import open_run
from mlops_dl.registry import open_registry
from mlops_dl.runtime import from_registry
from mlops_dl.serve.app import create_app
from mlops_dl.train import rundir

OLD = Path(__file__).resolve().parents[1] / "fixtures" / "old"
LABELS = ["negative", "neutral", "positive"]


@pytest.fixture
def old_registry(tmp_path) -> Path:
    return Path(shutil.copytree(OLD / "registry", tmp_path / "registry"))


def _samples(root: Path) -> list[dict]:
    path = root / "tiny" / "version-1" / "eval_samples.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()][:40]


def test_old_registry_predicts_as_it_did_when_exported(old_registry):
    """The old version verifies, loads by alias and gives the probabilities stored at export."""
    samples = _samples(old_registry)
    # its int8 is the legacy dynamic int8, whose probabilities vary with the batch: the export
    # scored in fixed batches of 32 (max_batch_tokens 0); token batches differ a little
    fixed = ServeConfig(max_batch_tokens=0)
    pred = from_registry("tiny@production", registry=old_registry, provider="cpu",
                         variant="int8", settings=fixed)  # the README's keyword arguments
    assert (pred.model_name, pred.version, pred.labels) == ("tiny", 1, LABELS)
    texts = [s["text"] for s in samples]
    for results, tol in ((pred.predict(texts), 1e-4),
                         (from_registry("tiny@production", registry=old_registry, provider="cpu",
                                        variant="int8").predict(texts), 2e-3)):
        assert [r["label"] for r in results] == [s["pred"] for s in samples]
        for r, s in zip(results, samples):
            for label in LABELS:
                assert r["probabilities"][label] == pytest.approx(s["probabilities"][label],
                                                                  abs=tol)
    fp32 = from_registry("tiny:1", registry=open_registry(old_registry), variant="fp32")
    assert [r["label"] for r in fp32.predict([s["text"] for s in samples])] == \
        [s["pred_by_variant"]["fp32"] for s in samples]


def test_old_registry_serves(old_registry, tmp_path):
    cfg = ServeConfig(log_path=str(tmp_path / "pred.jsonl"), swap_poll_s=0.05)
    sample = _samples(old_registry)[0]
    with TestClient(create_app(cfg, "tiny@production", registry=str(old_registry))) as client:
        for _ in range(400):
            if client.get("/readyz").status_code == 200:
                break
            client.get("/healthz")
        r = client.post("/v1/predict", json={"texts": [sample["text"]]})
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["model"], body["version"]) == ("tiny", 1)
        assert body["predictions"][0]["label"] == sample["pred"]


def test_old_run_dir_reads_through_the_run_dir_contract():
    """export's reader and the rundir readers take the old run dir (it has no checkpoints)."""
    run_dir = OLD / "run"
    run = open_run(run_dir)
    assert run.labels == LABELS and run.model_dir == rundir.model_dir(run_dir)
    assert run.cfg.data.name == "tiny" and run.cfg.export.name == "tiny"
    assert run.metrics["validation"]["macro_f1"] > 0.5 and "test" in run.metrics
    assert run.data_json["labels"] == LABELS and set(run.data_json["fingerprints"]) == {
        "train", "validation", "test"}
    assert run.read_json(rundir.ENV)["git"] == {"commit": None, "dirty": None}
    assert rundir.has_model(run_dir) and rundir.model_weights(run_dir)
    assert not rundir.has_checkpoint(run_dir) and not rundir.is_finished(run_dir)
    assert rundir.read_metrics(run_dir) == run.metrics
    assert rundir.model_labels(run_dir) == LABELS


def test_old_run_dir_data_link_reads(tmp_path):
    """data.json of the old run links its prepared data by absolute path (of the machine that
    made it): moved with the data, the link, fingerprints and validation texts still read."""
    run_dir = Path(shutil.copytree(OLD / "run", tmp_path / "run"))
    data_dir = Path(shutil.copytree(OLD / "data" / "tiny", tmp_path / "data" / "tiny"))
    info = json.loads((run_dir / rundir.DATA).read_text(encoding="utf-8"))
    (run_dir / rundir.DATA).write_text(json.dumps({**info, "data_dir": str(data_dir),
                                                   "data_card": str(data_dir / "data_card.json")}))
    assert rundir.run_data(run_dir).labels == LABELS  # fingerprints of the old data match
    texts, gold = open_run(run_dir).validation_split(10)
    assert len(texts) == len(gold) == 10 and set(gold) <= {0, 1, 2}
    (run_dir / rundir.DATA).write_text(json.dumps({**info, "data_dir": str(tmp_path / "gone")}))
    with pytest.raises(DataError, match="data_dir .* does not exist"):
        open_run(run_dir).validation_split(10)
