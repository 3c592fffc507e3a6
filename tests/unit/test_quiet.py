"""Expected third-party notices are silenced and said in one line (issue 16, item 23)."""

from __future__ import annotations

import logging

from mlops_dl import config as config_mod
from mlops_dl.config import ModelConfig
from mlops_dl.registry import open_registry
from mlops_dl.train.model import load_network, load_summary


def test_load_summary_says_what_the_report_means():
    info = {"missing_keys": {"classifier.weight", "classifier.bias"}, "unexpected_keys": set(),
            "mismatched_keys": []}
    assert load_summary(info, "bert", ["bad", "good"]) == [
        "new classification head: 2 labels (bad, good), randomly initialised (classifier.bias, "
        "classifier.weight); fine-tuning trains it"]
    odd = {"missing_keys": {"bert.pooler.dense.weight"}, "unexpected_keys": {"cls.predictions.bias"}}
    lines = load_summary(odd, "bert", ["a", "b"])
    assert lines[0].startswith("1 encoder weights are not in the checkpoint") and "cls.predictions" in lines[1]


def test_a_new_head_is_one_note_not_a_load_report(tiny_model_dir, capfd):
    load_network(ModelConfig(name=str(tiny_model_dir), max_length=32), ["bad", "good"])  # 3 -> 2
    err = capfd.readouterr().err
    assert "LOAD REPORT" not in err and "MISSING" not in err and "MISMATCH" not in err
    assert "note: new classification head: 2 labels (bad, good)" in err


def test_training_stderr_has_no_lightning_adverts(tiny_model_dir, tiny_rows, tmp_path, capfd):
    from tests.fixtures.tiny_train import tiny_config, write_fixture_prepared
    from mlops_dl.train.fitting import fit

    write_fixture_prepared(tmp_path / "data", tiny_rows[:60])
    cfg = tiny_config(tmp_path / "data", tiny_model_dir, tmp_path / "runs", max_steps=2)
    fit(config_mod.replace(cfg, {"train.limit_train_batches": 1.0}))
    err = capfd.readouterr().err
    for noise in ("💡 Tip", "GPU available", "TPU available", "was configured so"):
        assert noise not in err, noise


def test_int8_quantization_drops_the_preprocessing_advice(tiny_registry, tmp_path, caplog):
    from mlops_dl.export.graph import quantize_int8

    src = open_registry(tiny_registry).get("tiny:1").path / "model.onnx"
    with caplog.at_level(logging.WARNING):
        quantize_int8(src, tmp_path / "q.onnx")
    assert (tmp_path / "q.onnx").is_file()
    assert not any("pre-processing" in r.getMessage() for r in caplog.records)
