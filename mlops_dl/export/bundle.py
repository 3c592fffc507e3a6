"""Assemble the registry bundle: ONNX variants, tokenizer, model.json, figures, lineage, samples."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from mlops_dl import config as config_mod
from mlops_dl import files, machine
from mlops_dl.train import rundir
from mlops_dl.registry import layout
ORT_VARIANTS = layout.ORT_KEYS  # model.json "variants": the files onnxruntime runs


def lineage(run, exporter: str) -> dict:
    """Where the version came from: run, data fingerprints, code commits, base model, libraries."""
    import onnx
    import onnxruntime
    import torch
    import transformers

    env = run.read_json(rundir.ENV, required=False) or {}
    tracked = run.read_json(rundir.TRACKING, required=False) or {}
    return {
        "run_id": run.run_dir.name,
        "run_dir": str(run.run_dir.resolve()),
        "data_dir": run.data_json.get("data_dir"),
        "data_card": run.data_json.get("data_card"),
        "data_fingerprints": run.data_json.get("fingerprints", {}),
        "git_commit": (env.get("git") or {}).get("commit"),
        "git_dirty": (env.get("git") or {}).get("dirty"),
        "export_git_commit": machine.git_commit(),
        "base_model": run.cfg.model.name,
        "exporter": exporter,
        "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "libraries": {"torch": torch.__version__, "transformers": transformers.__version__,
                      "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__},
        **({"mlflow_run": {k: tracked.get(k) for k in ("tracking_uri", "run_id", "url")}}
           if tracked.get("run_id") else {}),
    }


def eval_samples(texts: list[str], gold: list[int], labels: list[str],
                 probs_by_variant: dict[str, np.ndarray], torch_pred: np.ndarray, served: str) -> list[dict]:
    """One row per validation text: gold, the served variant's prediction and probabilities."""
    rows = []
    for i, text in enumerate(texts):
        probs = probs_by_variant[served][i]  # (L,)
        by_variant = {v: labels[int(p[i].argmax())] for v, p in probs_by_variant.items()}
        rows.append({
            "text": text,
            "label": labels[gold[i]],
            "pred": labels[int(probs.argmax())],
            "probabilities": {lab: round(float(probs[j]), 6) for j, lab in enumerate(labels)},
            "variant": served,
            "pred_by_variant": {**by_variant, "torch": labels[int(torch_pred[i])]},
        })
    return rows


def write_bundle(out: Path, *, run, onnx_files: dict[str, Path], model_meta: dict,
                 validation: dict, lineage_doc: dict, samples: list[dict]) -> Path:
    """Write every bundle file into ``out`` (the registry adds checksums.json)."""
    out.mkdir(parents=True, exist_ok=True)
    for variant, src in onnx_files.items():
        shutil.copyfile(src, out / layout.ONNX_FILES[variant])
    for name in layout.TOKENIZER_FILES:
        if (run.model_dir / name).is_file():
            shutil.copyfile(run.model_dir / name, out / name)
    files.write_json(out / layout.MODEL_JSON, model_meta)
    config_mod.save(run.cfg, out / layout.CONFIG)
    files.write_json(out / layout.METRICS, run.metrics)
    files.write_json(out / layout.VALIDATION, validation)
    files.write_json(out / layout.LINEAGE, lineage_doc)
    with open(out / layout.EVAL_SAMPLES, "w", encoding="utf-8") as f:
        for row in samples:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return out
