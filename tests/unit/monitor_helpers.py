"""Helpers for the canvas / accept / monitor / label / report tests: canvases, logs, versions."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
LABELS = ["negative", "neutral", "positive"]


def canvas_file(tmp: Path, name: str = "canvas.yaml", **sections) -> Path:
    """A canvas for the tiny model (lenient gates unless overridden), written to ``tmp/name``."""
    raw = {"name": "tiny", "task": "tiny sentiment", "labels": LABELS,
           "data_config": str(REPO / "configs" / "quickstart.yaml"), "model": "tiny",
           "offline": {"threshold": 0.0, "per_class_f1_floor": 0.0},
           "latency": {"p95_ms": 10_000, "measure_texts": 20},
           "behaviour": {"gate": False, "max_cases": 20},
           "monitoring": {"min_predictions": 100},
           "feedback": {"dir": str(tmp / "feedback"), "dataset": "tiny"}}
    for key, value in sections.items():
        raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) else value
    path = tmp / name
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def copy_registry(root: Path, dest: Path) -> Path:
    """A writable copy of a (session-scoped) registry root."""
    shutil.copytree(root, dest)
    for p in dest.rglob("*"):
        p.chmod(p.stat().st_mode | stat.S_IWUSR)
    dest.chmod(dest.stat().st_mode | stat.S_IWUSR)
    return dest


def record(text: str | None, probs: dict, ts: datetime, *, rid: str, index: int = 0,
           model: str = "tiny", version: int = 1, latency_ms: float = 5.0, hashed: bool = False,
           engine: str = "onnxruntime", variant: str = "int8-static", precision: str = "int8") -> dict:
    """One prediction-log line as the server writes it (serve/predlog.py)."""
    rec = {"ts": ts.isoformat(timespec="milliseconds"), "request_id": rid, "index": index}
    if text is not None:
        rec.update({"text_sha256": hashlib.sha256(text.encode()).hexdigest()} if hashed else {"text": text})
    label = max(probs, key=probs.get)
    rec.update({"label": label, "probabilities": probs, "model": model, "version": version,
                "engine": engine, "variant": variant, "precision": precision,
                "servable": f"{engine}:{variant}", "latency_ms": latency_ms})
    return rec


def write_log(path: Path, predictor, texts: list[str], start: datetime | None = None,
              step_s: float = 10.0, hashed: bool = False, latency_ms: float = 5.0) -> Path:
    """Score ``texts`` with ``predictor`` and write them as a log, one request per text."""
    start = start or datetime(2026, 1, 1, tzinfo=timezone.utc)
    results = predictor.predict(texts)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        for i, (text, r) in enumerate(zip(texts, results)):
            rec = record(text, r["probabilities"], start + timedelta(seconds=i * step_s), rid=f"r{i}",
                         version=predictor.version, hashed=hashed, latency_ms=latency_ms + i % 7,
                         engine=predictor.engine, variant=predictor.variant,
                         precision=predictor.precision)
            f.write(json.dumps(rec) + "\n")
    return path


def worse_bundle(version_dir: Path, dest: Path, shift: float = 50.0, index: int = 0) -> Path:
    """A copy of a version whose every ONNX file (each servable: fp32, int8 static / NNCF /
    dynamic, the portable file) prefers label ``index``: ``shift`` is added to that logit by
    one Add node before the graph's output (the default always answers label 0)."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    bundle_copy(version_dir, dest)
    labels = json.loads((dest / "model.json").read_text())["labels"]
    for path in sorted(dest.glob("*.onnx")):
        model = onnx.load(str(path))
        for node in model.graph.node:
            node.output[:] = ["logits_unshifted" if o == "logits" else o for o in node.output]
        bias = np.zeros(len(labels), dtype=np.float32)
        bias[index] = shift
        model.graph.initializer.append(numpy_helper.from_array(bias, "worse_shift"))
        model.graph.node.append(helper.make_node("Add", ["logits_unshifted", "worse_shift"],
                                                 ["logits"], name="worse_shift_add"))
        onnx.save(model, str(path))
    return dest


def bundle_copy(version_dir: Path, dest: Path) -> Path:
    """A writable copy of a registered version to edit and register again (no checksums,
    attachments or tags)."""
    shutil.copytree(version_dir, dest)
    for p in [dest, *dest.rglob("*")]:
        p.chmod(p.stat().st_mode | stat.S_IWUSR)
    for sub in ("attachments", "tags"):
        shutil.rmtree(dest / sub, ignore_errors=True)
    os.remove(dest / "checksums.json") if (dest / "checksums.json").exists() else None
    return dest
