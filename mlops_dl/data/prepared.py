"""The prepared-dataset directory: the contract between `data prepare` and everything after it.

Layout of ``<output_dir>/<name>/``::

    train.parquet  validation.parquet  test.parquet   columns: text (str), label (int64 id)
    data_card.json                                     labels, counts, fingerprints, stats
    plots/*.png

Label ids index ``data_card.json["labels"]``. Each split's fingerprint is the sha256 of its
rows (``text\\tlabel\\n``) in order.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from filelock import FileLock

from mlops_dl.errors import ConfigError, DataError, quoted

SPLITS = ("train", "validation", "test")
CARD = "data_card.json"


def fingerprint(frame: pd.DataFrame) -> str:
    """sha256 over the split's (text, label) rows in order."""
    h = hashlib.sha256()
    for text, label in zip(frame["text"], frame["label"]):
        h.update(f"{text}\t{int(label)}\n".encode("utf-8"))
    return h.hexdigest()


@dataclass
class PreparedData:
    root: Path
    labels: list[str]
    card: dict

    def frame(self, split: str) -> pd.DataFrame:
        if split not in SPLITS:
            raise DataError(f"unknown split {split!r} (choose from {', '.join(SPLITS)})")
        return pd.read_parquet(self.root / f"{split}.parquet")

    def texts_labels(self, split: str) -> tuple[list[str], list[int]]:
        df = self.frame(split)
        return df["text"].tolist(), [int(x) for x in df["label"]]

    @property
    def fingerprints(self) -> dict[str, str]:
        return dict(self.card.get("fingerprints", {}))


def output_path(cfg) -> Path:
    """Where the prepared dataset of a Config lives: ``<data.output_dir>/<data.name>``."""
    return prepared_dir(cfg.data.output_dir, cfg.data.name)


def prepared_dir(output_dir: str, name: str) -> Path:
    """``<output_dir>/<name>`` with ``~`` expanded and ``name`` checked: the one place this path
    is built (prepare, train, search, pipeline through ``output_path``; monitor from a
    version's config.yaml)."""
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise ConfigError(f"data.name: {quoted(name)} must be a plain directory name")
    return Path(output_dir).expanduser() / name


def load_prepared(root: str | Path) -> PreparedData:
    """Open a prepared dataset directory, checking that every part is there."""
    root = Path(root)
    card_path = root / CARD
    if not card_path.is_file():
        raise DataError(
            f"{root}: not a prepared dataset (no {CARD}); run `mlops-dl data prepare` first"
        )
    missing = [s for s in SPLITS if not (root / f"{s}.parquet").is_file()]
    if missing:
        raise DataError(f"{root}: prepared dataset is missing split file(s): {', '.join(missing)}")
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(f"{card_path}: not valid JSON: {e}") from None
    labels = card.get("labels")
    if not isinstance(labels, list) or not labels:
        raise DataError(f"{card_path}: has no 'labels' list")
    return PreparedData(root=root, labels=[str(x) for x in labels], card=card)


def write_prepared(
    root: str | Path, frames: dict[str, pd.DataFrame], card: dict, plots: dict[str, bytes]
) -> Path:
    """Write splits, card and plots into a temp dir next to ``root``, then swap it into place."""
    root = Path(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
    try:
        for split in SPLITS:
            df = frames[split][["text", "label"]].reset_index(drop=True)
            df = df.astype({"text": "string", "label": "int64"})
            df.to_parquet(tmp / f"{split}.parquet", index=False)
        (tmp / "plots").mkdir()
        for name, data in plots.items():
            (tmp / "plots" / name).write_bytes(data)
        (tmp / CARD).write_text(json.dumps(card, indent=2, ensure_ascii=False), encoding="utf-8")
        old = None
        with FileLock(str(root.parent / f".{root.name}.lock")):  # concurrent writers take turns
            if root.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{root.name}.old-", dir=root.parent))
                root.rename(old / root.name)
            tmp.rename(root)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root
