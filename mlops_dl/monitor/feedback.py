"""Labelling and feedback: a queue of uncertain logged predictions, annotations imported back.

`build_queue` ranks the logged predictions by uncertainty (margin or entropy, per the canvas),
masks PII with the data stage's cleaner, deduplicates and keeps the top N for annotators.
`import_labels` validates a filled-in queue (gold must be a known label; errors name the CSV
row) and appends it to a versioned feedback dataset ``<dir>/<dataset>/v-N.parquet`` (each
version a full snapshot) with a manifest.json, atomically. A data config pools it as a
``file`` source with ``split: train``: feedback rows never enter the frozen test split.
"""

from __future__ import annotations

import csv
import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from filelock import FileLock

from mlops_dl import files
from mlops_dl.data.clean import mask_pii, normalize_whitespace
from mlops_dl.errors import DataError, MlopsError, listed, quoted
from mlops_dl.monitor.drift import entropy, margin

QUEUE_COLUMNS = ["id", "text", "model_label", "confidence", "uncertainty", "probabilities",
                 "model", "version", "ts", "seen", "gold"]
MANIFEST = "manifest.json"
MAX_ERRORS = 20


def text_id(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def uncertainty(probs: np.ndarray, measure: str) -> np.ndarray:
    """Higher = less sure. margin: 1 - (top1 - top2); entropy: nats. # (N, L) -> (N,)"""
    if measure == "margin":
        return 1.0 - margin(probs)
    if measure == "entropy":
        return entropy(probs)
    raise MlopsError(f"uncertainty measure {measure!r}: expected margin or entropy")


def build_queue(records: list[dict], n: int, measure: str = "margin",
                exclude_ids: set[str] | frozenset = frozenset()) -> pd.DataFrame:
    """The ``n`` most uncertain distinct (masked) texts, most uncertain first."""
    rows = [r for r in records if isinstance(r.get("text"), str) and r["text"].strip()]
    if not rows:
        raise MlopsError(f"no logged texts to queue among {len(records)} records (the log holds "
                         f"hashes or nothing: serve with serve.log_text: text)")
    labels = list(rows[0]["probabilities"])
    probs = np.array([[float(r["probabilities"].get(lab, 0.0)) for lab in labels] for r in rows])  # (N, L)
    scores = uncertainty(probs, measure)  # (N,)
    best: dict[str, dict] = {}
    for r, score in zip(rows, scores):
        text = mask_pii(normalize_whitespace(r["text"]))
        key = text_id(text)
        if key in exclude_ids:
            continue
        seen = best.get(key, {}).get("seen", 0) + 1
        if key not in best or score > best[key]["uncertainty"]:
            best[key] = {"id": key, "text": text, "model_label": r["label"],
                         "confidence": round(max(r["probabilities"].values()), 6),
                         "uncertainty": round(float(score), 6),
                         "probabilities": json.dumps({k: round(float(v), 6) for k, v in r["probabilities"].items()}),
                         "model": r.get("model"), "version": r.get("version"), "ts": r.get("ts"),
                         "gold": ""}
        best[key]["seen"] = seen
    ordered = sorted(best.values(), key=lambda q: (-q["uncertainty"], q["id"]))[:n]
    return pd.DataFrame(ordered, columns=QUEUE_COLUMNS)


def write_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write atomically (temp file + rename)."""
    return files.write_with(path, lambda tmp: frame.to_csv(tmp, index=False, quoting=csv.QUOTE_NONNUMERIC))


def read_annotations(path: str | Path, labels: list[str]) -> tuple[pd.DataFrame, int]:
    """(rows with a gold label, count left blank); every bad row is listed by CSV row number."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"annotations file not found: {path}")
    by_lower = {lab.lower(): lab for lab in labels}
    good, errors, blank = [], [], 0
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in ("text", "gold") if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{path}: missing column(s) {', '.join(missing)} (header: "
                            f"{listed(reader.fieldnames or []) or 'none'}); use the queue CSV")
        for row in reader:
            where = f"row {reader.line_num}"
            gold, text = (row.get("gold") or "").strip(), (row.get("text") or "").strip()
            if not gold:
                blank += 1
            elif gold.lower() not in by_lower:
                errors.append(f"{where}: gold {quoted(gold)} is not a known label ({', '.join(labels)})")
            elif not text:
                errors.append(f"{where}: empty text")
            else:
                good.append({"text": text, "label": by_lower[gold.lower()], "id": text_id(text),
                             "model_label": row.get("model_label") or "",
                             "model": row.get("model") or "", "version": str(row.get("version") or "")})
    if errors:
        more = f" (and {len(errors) - MAX_ERRORS} more)" if len(errors) > MAX_ERRORS else ""
        raise DataError(f"{path}: {len(errors)} invalid annotation(s), nothing imported: "
                        + "; ".join(errors[:MAX_ERRORS]) + more)
    return pd.DataFrame(good, columns=["text", "label", "id", "model_label", "model", "version"]), blank


def read_manifest(folder: Path) -> dict:
    path = folder / MANIFEST
    if not path.is_file():
        return {"name": folder.name, "versions": [], "latest": 0}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not valid JSON: {e}") from None


def labelled_ids(folder: Path) -> set[str]:
    """Text ids already in the latest version of a feedback dataset (the queue skips them)."""
    manifest = read_manifest(Path(folder))
    if not manifest.get("latest"):
        return set()
    return set(pd.read_parquet(Path(folder) / f"v-{manifest['latest']}.parquet")["id"])


def import_labels(path: str | Path, labels: list[str], feedback_dir: str | Path, dataset: str,
                  exclude_texts: set[str] | None = None) -> dict:
    """Validate ``path`` and write the next version of the feedback dataset; return its entry."""
    new, blank = read_annotations(path, labels)
    excluded = 0
    if exclude_texts:
        keep = ~new["text"].isin(exclude_texts)
        excluded = int((~keep).sum())
        new = new[keep]
    folder = Path(feedback_dir) / dataset
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder / ".lock"), timeout=60):
        manifest = read_manifest(folder)
        version = int(manifest.get("latest", 0)) + 1
        prev = pd.read_parquet(folder / f"v-{version - 1}.parquet") if version > 1 else None
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        new = new.drop_duplicates("text", keep="last").assign(imported_at=now, source_file=str(path))
        merged, counts = _merge(prev, new)
        out = folder / f"v-{version}.parquet"
        files.write_with(out, lambda tmp: merged.to_parquet(tmp, index=False))
        entry = {"version": version, "file": out.name, "rows": len(merged), **counts,
                 "blank": blank, "excluded_test_texts": excluded, "source_file": str(path),
                 "sha256": files.sha256_file(out), "created": now,
                 "label_counts": merged["label"].value_counts().to_dict()}
        manifest.update({"name": dataset, "labels": list(labels), "latest": version})
        manifest["versions"] = [*manifest.get("versions", []), entry]
        files.write_json(folder / MANIFEST, manifest)
    return {**entry, "path": str(out), "source_snippet": source_snippet(out)}


def _merge(prev: pd.DataFrame | None, new: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Previous snapshot + new rows; a re-annotated text takes the newer gold."""
    if prev is None or prev.empty:
        return new.reset_index(drop=True), {"added": len(new), "relabelled": 0, "unchanged": 0}
    old_gold = dict(zip(prev["text"], prev["label"]))
    known = new["text"].isin(old_gold)
    same = known & (new["text"].map(old_gold) == new["label"])
    merged = pd.concat([prev[~prev["text"].isin(new["text"][known & ~same])], new[~same]],
                       ignore_index=True)
    return merged, {"added": int((~known).sum()), "relabelled": int((known & ~same).sum()),
                    "unchanged": int(same.sum())}


def source_snippet(parquet: Path) -> str:
    """The data-config source that pools this feedback version into training only."""
    return (f"- kind: file\n  path: {parquet}\n  text_column: text\n  label_column: label\n"
            f"  split: train   # feedback never enters the frozen test split")


def frozen_test_texts(data_dir: str | Path) -> set[str]:
    """Texts of a prepared dataset's test split (excluded from imports so a conflicting label
    cannot make the cleaner drop a test row)."""
    from mlops_dl.data.prepared import load_prepared

    texts, _ = load_prepared(data_dir).texts_labels("test")
    return set(texts)


def new_since_training(folder: Path, data_dir: str | Path | None) -> tuple[int, int | None]:
    """Labels of the latest feedback version that are new (added or relabelled) since the
    version the prepared dataset ``data_dir`` pooled, found by sha256 among its data card's
    sources; and that version (None when it pooled none: every label counts as new)."""
    manifest = read_manifest(Path(folder))
    latest = int(manifest.get("latest", 0))
    if not latest:
        return 0, None
    current = pd.read_parquet(Path(folder) / f"v-{latest}.parquet")
    pooled = _pooled_version(manifest, data_dir) if data_dir is not None else None
    if pooled is None:
        return len(current), None
    base = pd.read_parquet(Path(folder) / f"v-{pooled}.parquet")
    seen = set(zip(base["text"], base["label"]))
    return sum(pair not in seen for pair in zip(current["text"], current["label"])), pooled


def _pooled_version(manifest: dict, data_dir: str | Path) -> int | None:
    card_path = Path(data_dir) / "data_card.json"
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise DataError(f"{card_path}: cannot read the data card ({e}); is {data_dir} a "
                        "prepared dataset?") from None
    shas = {s.get("sha256") for s in card.get("sources", [])}
    return max((int(v["version"]) for v in manifest.get("versions", []) if v.get("sha256") in shas),
               default=None)  # fmt: skip

