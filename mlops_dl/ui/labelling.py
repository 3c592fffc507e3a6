"""The labelling page: the uncertainty queue of the log, one click per label into the
annotations CSV that `mlops-dl label import` reads (the queue's columns, ``gold`` filled in)."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
from filelock import FileLock

from mlops_dl.errors import MlopsError
from mlops_dl.monitor import feedback, read_window


def read_gold(path: Path) -> dict[str, str]:
    """id -> gold of the rows annotated so far (an absent file: none)."""
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as f:
        return {row["id"]: row["gold"] for row in csv.DictReader(f)
                if row.get("id") and (row.get("gold") or "").strip()}


def queue(logs: list[str], canvas) -> pd.DataFrame:
    """The canvas-sized uncertainty queue, skipping texts already in the feedback dataset."""
    fb = canvas.feedback
    done = feedback.labelled_ids(Path(fb.dir) / fb.dataset)
    records = read_window(logs).records
    return feedback.build_queue(records, fb.queue_size, fb.uncertainty, done)


def labelling_page(logs: list[str], canvas, annotations: Path) -> dict:
    q = queue(logs, canvas)
    gold = read_gold(annotations)
    rows = [{**row, "gold": gold.get(row["id"], "")} for row in q.to_dict("records")]
    return {"rows": rows, "labels": canvas.labels, "annotations": str(annotations),
            "progress": progress(rows)}


def progress(rows: list[dict]) -> dict:
    done = sum(1 for r in rows if r["gold"])
    return {"done": done, "total": len(rows), "share": done / len(rows) if rows else 0.0}


def annotate(logs: list[str], canvas, annotations: Path, text_id: str, gold: str) -> dict:
    """Write ``gold`` for the queued text ``text_id`` (a later click replaces it); the row."""
    if gold not in canvas.labels:
        raise MlopsError(f"label {gold!r} is not one of the canvas labels ({', '.join(canvas.labels)})")
    q = queue(logs, canvas)
    match = q[q["id"] == text_id]
    if match.empty:
        raise MlopsError(f"text id {text_id!r} is not in the labelling queue (already imported, "
                         f"or the log changed): reload the page")
    row = {**match.iloc[0].to_dict(), "gold": gold}
    annotations.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(annotations) + ".lock", timeout=30):
        frame = (pd.read_csv(annotations, dtype=str, keep_default_na=False)
                 if annotations.is_file() else pd.DataFrame(columns=feedback.QUEUE_COLUMNS))
        frame = frame[frame["id"] != text_id]
        frame = pd.concat([frame, pd.DataFrame([row], columns=feedback.QUEUE_COLUMNS)],
                          ignore_index=True)
        feedback.write_csv(frame, annotations)
    return row
