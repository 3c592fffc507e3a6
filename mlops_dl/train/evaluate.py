"""Evaluate a run dir: the fine-tuned model and the TF-IDF baseline on the same splits.

``evaluate_run(run_dir, split)`` writes into the run dir: metrics.json (model figures per split,
the baseline's under ``baseline``, McNemar model-vs-baseline under ``comparison``),
confusion_<split>.json/.png and learning_curves.png (from the CSV logs).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mlops_dl import files
from mlops_dl import config as config_mod
from mlops_dl import metrics
from mlops_dl.train.baseline import fit_baseline
from mlops_dl.data.prepared import SPLITS, PreparedData, load_prepared
from mlops_dl.errors import DataError, MlopsError
from mlops_dl.train.rundir import merge_metrics


def evaluate_run(run_dir: str | Path, split: str = "test", baseline: bool = True,
                 batch_size: int = 64) -> dict:  # fmt: skip
    """Score the run's model (and the baseline) on validation and ``split``; returns metrics.json."""
    run_dir = Path(run_dir)
    if split not in SPLITS:
        raise MlopsError(f"unknown split {split!r} (choose from {', '.join(SPLITS)})")
    if not (run_dir / "model" / "config.json").is_file():
        raise MlopsError(f"{run_dir}: not a finished run dir (no model/config.json); train first")
    cfg = config_mod.load(run_dir / "config.yaml")
    data = run_data(run_dir)
    if cfg.train.num_threads > 0:
        import torch

        torch.set_num_threads(cfg.train.num_threads)
    splits = list(dict.fromkeys(["validation", split]))
    gold = {s: data.texts_labels(s) for s in splits}
    # 1. the fine-tuned model
    pred = {s: predict_labels(run_dir / "model", gold[s][0], data.labels, cfg.model.max_length,
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
    merged = merge_metrics(run_dir, results)
    files.write_json(run_dir / f"confusion_{split}.json", {
        "labels": data.labels, "model": results[split]["confusion_matrix"],
        **({"baseline": results["baseline"][split]["confusion_matrix"]} if baseline else {}),
    })  # fmt: skip
    from mlops_dl.train import plots as evaluate_plots

    evaluate_plots.confusion_png(run_dir / f"confusion_{split}.png", results, split, data.labels)
    evaluate_plots.learning_curves_png(run_dir / "learning_curves.png", run_dir / "logs")
    return merged


def run_data(run_dir: Path) -> PreparedData:
    """The prepared data a run was trained on, refusing data that changed since."""
    info_path = run_dir / "data.json"
    if not info_path.is_file():
        raise MlopsError(f"{run_dir}: no data.json (not a run dir written by `mlops-dl train`)")
    info = json.loads(info_path.read_text(encoding="utf-8"))
    data = load_prepared(info["data_dir"])
    changed = [s for s, fp in info.get("fingerprints", {}).items() if data.fingerprints.get(s) != fp]
    if changed:
        raise DataError(
            f"{info['data_dir']}: split(s) {', '.join(changed)} changed since {run_dir} was trained "
            f"(fingerprints in {info_path} differ from {info['data_card']}); re-run `mlops-dl data "
            f"prepare` with the run's config or retrain"
        )
    if data.labels != info.get("labels"):
        raise DataError(f"{info['data_dir']}: labels {data.labels} differ from the run's {info.get('labels')}")
    return data


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
