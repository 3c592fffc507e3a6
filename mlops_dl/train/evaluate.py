"""Evaluate a run dir: the fine-tuned model and the TF-IDF baseline on the same splits.

``evaluate_run(run_dir, split)`` writes into the run dir: metrics.json (model figures per split,
the baseline's under ``baseline``, McNemar model-vs-baseline under ``comparison``),
confusion_<split>.json/.png and learning_curves.png (from the CSV logs).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mlops_dl import metrics
from mlops_dl.data.prepared import SPLITS
from mlops_dl.errors import MlopsError
from mlops_dl.train import rundir
from mlops_dl.train.baseline import fit_baseline


def evaluate_run(run_dir: str | Path, split: str = "test", baseline: bool = True,
                 batch_size: int = 64) -> dict:  # fmt: skip
    """Score the run's model (and the baseline) on validation and ``split``; returns metrics.json."""
    run_dir = Path(run_dir)
    if split not in SPLITS:
        raise MlopsError(f"unknown split {split!r} (choose from {', '.join(SPLITS)})")
    if not rundir.has_model(run_dir):
        raise MlopsError(f"{run_dir}: not a finished run dir (no model/config.json); train first")
    cfg = rundir.read_config(run_dir)
    data = rundir.run_data(run_dir)
    if cfg.train.num_threads > 0:
        import torch

        torch.set_num_threads(cfg.train.num_threads)
    splits = list(dict.fromkeys(["validation", split]))
    gold = {s: data.texts_labels(s) for s in splits}
    # 1. the fine-tuned model
    pred = {s: predict_labels(rundir.model_dir(run_dir), gold[s][0], data.labels, cfg.model.max_length,
                              batch_size) for s in splits}  # fmt: skip
    results: dict = {s: metrics.classification_report(gold[s][1], pred[s], data.labels) for s in splits}
    # 2. the baseline on the same train split, and the paired test model vs baseline
    if baseline:
        base = fit_baseline(data.texts_labels("train"), gold["validation"], len(data.labels),
                            seed=cfg.train.seed)  # fmt: skip
        base_pred = {s: base.predict(gold[s][0]) for s in splits}
        results["baseline"] = {s: metrics.classification_report(gold[s][1], base_pred[s], data.labels)
                               for s in splits}  # fmt: skip
        results["baseline_info"] = {"kind": "tfidf-word-1-2gram+logreg", "C": base.C,
                                    "C_grid_on": "validation"}  # fmt: skip
        results["comparison"] = {s: metrics.mcnemar(gold[s][1], pred[s], base_pred[s]) for s in splits}
    # 3. files: metrics.json, confusion matrices, learning curves
    merged = rundir.merge_metrics(run_dir, results)
    rundir.write_confusion(run_dir, split, {
        "labels": data.labels, "model": results[split]["confusion_matrix"],
        **({"baseline": results["baseline"][split]["confusion_matrix"]} if baseline else {}),
    })  # fmt: skip
    from mlops_dl.train import plots as evaluate_plots

    evaluate_plots.confusion_png(rundir.confusion_path(run_dir, split, ".png"), results, split,
                                 data.labels)
    evaluate_plots.learning_curves_png(run_dir / rundir.LEARNING_CURVES, rundir.logs_dir(run_dir))
    return merged


def predict_labels(model_dir: Path, texts: list[str], labels: list[str], max_length: int,
                   batch_size: int = 64, bf16: bool = False) -> list[int]:  # fmt: skip
    """Predicted label ids of a save_pretrained model, batched by length (CPU). # (N,)

    ``bf16``: run under bfloat16 autocast, as bf16-mixed training would.
    """
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from mlops_dl.train.datamodule import PadCollator, tokenize_split

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    network = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    id2label = [network.config.id2label[i] for i in range(network.config.num_labels)]
    if id2label != list(labels):
        raise MlopsError(f"{model_dir}: model labels {id2label} differ from the data's {labels}")
    split = tokenize_split(tokenizer, texts, [0] * len(texts), max_length)
    order = np.argsort(-split.lengths, kind="stable")  # longest first: least padding per batch
    collate = PadCollator(tokenizer.pad_token_id or 0)
    out = np.zeros(len(texts), dtype=np.int64)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            batch = collate([split[int(i)] for i in idx])
            logits = network(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            out[idx] = logits.argmax(dim=-1).numpy()  # (B,)
    return out.tolist()
