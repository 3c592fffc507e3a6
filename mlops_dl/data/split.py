"""Splits: a frozen, hash-assigned test set and a seeded, stratified train/validation split.

- Rows from a source with ``split: test`` (or validation/train) keep that split as given.
- Pooled rows go to test when ``sha256(text)`` read as a number in [0, 1) is below
  ``test_fraction``. A text's test membership depends on nothing but the text, so adding rows
  never moves a test row into training. When a source gives the test split, nothing is hashed
  into test.
- The remaining pooled rows are split train/validation per label with ``numpy`` and the seed
  (skipped when a source gives the validation split: pooled rows then all go to train).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from mlops_dl.config import SplitConfig
from mlops_dl.errors import ConfigError, DataError
from mlops_dl.data.prepared import SPLITS


class EmptySplitError(DataError):
    """A split with no rows left; ``split`` names it (the caller adds why rows were lost)."""

    def __init__(self, message: str, split: str):
        super().__init__(message)
        self.split = split


def hash_fraction(text: str) -> float:
    """A stable number in [0, 1) from the text's sha256 (first 8 bytes)."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def frozen_test_mask(texts: pd.Series, test_fraction: float) -> pd.Series:
    """True where a text belongs to the frozen test split."""
    return texts.map(hash_fraction) < test_fraction


def stratified_validation_mask(labels: pd.Series, fraction: float, seed: int) -> pd.Series:
    """True for ``round(n * fraction)`` rows of each label, chosen with ``seed``."""
    rng = np.random.default_rng(seed)
    mask = pd.Series(False, index=labels.index)
    for label in sorted(labels.unique()):
        idx = labels.index[labels.to_numpy() == label].to_numpy()
        take = int(round(len(idx) * fraction))
        if take:
            mask.loc[rng.permutation(idx)[:take]] = True
    return mask


def check_split(cfg: SplitConfig) -> None:
    for key in ("validation_fraction", "test_fraction"):
        value = getattr(cfg, key)
        if not 0.0 <= value < 1.0:
            raise ConfigError(f"data.split.{key}: must be in [0, 1), got {value}")
    if cfg.validation_fraction + cfg.test_fraction >= 1.0:
        raise ConfigError("data.split: validation_fraction + test_fraction must be below 1 "
                          f"(got {cfg.validation_fraction} + {cfg.test_fraction})")


def assign_splits(frame: pd.DataFrame, cfg: SplitConfig) -> dict[str, pd.DataFrame]:
    """Cleaned rows (text, label, split) -> {"train", "validation", "test"} frames (text, label)."""
    check_split(cfg)
    given = frame["split"].fillna("")
    split = given.copy()
    pooled = given == ""
    if "test" not in set(given):
        split[pooled & frozen_test_mask(frame["text"], cfg.test_fraction)] = "test"
    rest = pooled & (split == "")
    if "validation" in set(given):
        split[rest] = "train"
    else:
        labels = frame.loc[rest, "label"]
        val = stratified_validation_mask(labels, cfg.validation_fraction, cfg.seed)
        split[rest] = np.where(val.to_numpy(), "validation", "train")
    frames = {name: frame.loc[split == name, ["text", "label"]].reset_index(drop=True)
              for name in SPLITS}
    hints = {"train": "lower data.split.validation_fraction / test_fraction",
             "validation": "raise data.split.validation_fraction",
             "test": "raise data.split.test_fraction"}
    for name, df in frames.items():
        if df.empty:
            raise EmptySplitError(
                f"split {name!r} is empty after cleaning ({len(frame)} rows in all); add data, "
                f"{hints[name]} or give a source with split: {name}", name)
    return frames
