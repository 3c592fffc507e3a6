"""Evaluation of a run dir: metrics.json contract, baseline side by side, plots, error paths."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from mlops_dl import metrics
from mlops_dl.train.baseline import fit_baseline
from mlops_dl.cli import main
from mlops_dl.data.prepared import load_prepared
from mlops_dl.errors import DataError, MlopsError
from mlops_dl.train.evaluate import evaluate_run
from mlops_dl.train.plots import read_logs
from mlops_dl.train.fitting import fit
from tests.fixtures.tiny_train import tiny_config, write_fixture_prepared

REPORT_KEYS = {"accuracy", "macro_precision", "macro_recall", "macro_f1", "per_class", "confusion_matrix"}


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_rows, tiny_model_dir):
    root = tmp_path_factory.mktemp("eval")
    write_fixture_prepared(root / "data", tiny_rows)
    cfg = tiny_config(root / "data", tiny_model_dir, root / "runs", max_steps=50, lr=5e-3)
    return fit(cfg).run_dir


def test_evaluate_writes_the_metrics_contract(run):
    result = evaluate_run(run, split="test")
    on_disk = json.loads((run / "metrics.json").read_text())
    assert on_disk == result
    for part in (on_disk["validation"], on_disk["test"], *on_disk["baseline"].values()):
        assert REPORT_KEYS <= set(part)
        assert set(part["per_class"]) == {"negative", "neutral", "positive"}
        assert set(part["per_class"]["neutral"]) == {"precision", "recall", "f1", "support"}
    assert set(on_disk["baseline"]) == {"validation", "test"}
    assert on_disk["test"]["n"] == 45 and on_disk["test"]["macro_f1"] > 0.6
    assert on_disk["comparison"]["test"]["n"] == 45
    for name in ("confusion_test.json", "confusion_test.png", "learning_curves.png"):
        assert (run / name).stat().st_size > 0
    cm = json.loads((run / "confusion_test.json").read_text())
    assert cm["model"] == on_disk["test"]["confusion_matrix"]


def test_evaluating_another_split_keeps_the_first(run):
    evaluate_run(run, split="test")
    result = evaluate_run(run, split="train", baseline=True)
    assert {"validation", "test", "train"} <= set(result)
    assert {"validation", "test", "train"} <= set(result["baseline"])


def test_baseline_learns_the_fixture_words(tmp_path, tiny_rows):
    data = load_prepared(write_fixture_prepared(tmp_path, tiny_rows))
    base = fit_baseline(data.texts_labels("train"), data.texts_labels("validation"), 3)
    texts, gold = data.texts_labels("test")
    assert metrics.macro_f1(gold, base.predict(texts), 3) > 0.9
    assert base.C in (0.25, 1.0, 4.0, 16.0)


def test_changed_data_is_refused(run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    info = json.loads((copy / "data.json").read_text())
    info["fingerprints"]["test"] = "0" * 64
    (copy / "data.json").write_text(json.dumps(info))
    with pytest.raises(DataError, match="test.*changed"):
        evaluate_run(copy, split="test")


def test_not_a_run_dir_and_bad_split(tmp_path, run):
    with pytest.raises(MlopsError, match="not a finished run dir"):
        evaluate_run(tmp_path)
    with pytest.raises(MlopsError, match="unknown split"):
        evaluate_run(run, split="dev")


def test_cli_prints_model_and_baseline_side_by_side(run, capsys):
    assert main(["evaluate", str(run), "--split", "test"]) == 0
    out = capsys.readouterr().out
    assert "TF-IDF+LR" in out and "macro_f1" in out and "McNemar" in out
    assert main(["evaluate", str(run / "nope")]) == 2


def test_learning_curves_merge_a_resumed_run(tmp_path):
    logs = tmp_path / "logs"
    (logs / "resume-1").mkdir(parents=True)
    pd.DataFrame({"step": [0, 10, 20, 30], "train_loss": [1.0, 0.9, 0.8, 0.7]}).to_csv(logs / "metrics.csv", index=False)
    pd.DataFrame({"step": [20, 30, 40], "train_loss": [0.5, 0.4, 0.3]}).to_csv(logs / "resume-1" / "metrics.csv", index=False)
    df = read_logs(logs)
    assert df["step"].tolist() == [0, 10, 20, 30, 40]
    assert df["train_loss"].tolist() == [1.0, 0.9, 0.5, 0.4, 0.3]  # replayed steps: the resume wins
