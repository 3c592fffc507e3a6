"""Raw labels (strings or ints, any source) -> label ids indexing ``data.labels``.

A raw label maps, in this order: through ``data.label_map`` (raw text -> name), by name
(``"negative"``), or as an integer index into ``data.labels`` (``0``, ``"2"``, ``1.0``).
"""

from __future__ import annotations

import pandas as pd

from mlops_dl.config import DataConfig
from mlops_dl.errors import ConfigError, DataError, clip, listed, quoted


def check_labels(cfg: DataConfig) -> None:
    """``data.labels`` are >= 2 unique names and every ``label_map`` value is one of them."""
    if len(cfg.labels) < 2:
        raise ConfigError(f"data.labels: list at least two label names, got {cfg.labels}")
    if len(set(cfg.labels)) != len(cfg.labels):
        raise ConfigError(f"data.labels: names must be unique, got {cfg.labels}")
    for raw, name in cfg.label_map.items():
        if name not in cfg.labels:
            raise ConfigError(
                f"data.label_map.{clip(str(raw))}: {quoted(name)} is not one of data.labels "
                f"({', '.join(cfg.labels)})"
            )


def raw_key(value: object) -> str:
    """A raw label as text: 1, 1.0 and "1 " all become "1"."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def label_lookup(cfg: DataConfig) -> dict[str, int]:
    """Every raw-label text that maps, with its label id."""
    lookup = {str(i): i for i in range(len(cfg.labels))}
    lookup.update({name: i for i, name in enumerate(cfg.labels)})
    lookup.update({str(raw).strip(): cfg.labels.index(name) for raw, name in cfg.label_map.items()})
    return lookup


def map_labels(frame: pd.DataFrame, cfg: DataConfig) -> pd.Series:
    """Label ids for ``frame.raw_label``; an unknown label -> DataError naming file and row."""
    lookup = label_lookup(cfg)
    keys = frame["raw_label"].map(lambda v: "" if v is None or v != v else raw_key(v))
    ids = keys.map(lookup)
    bad = ids.isna()
    if bad.any():
        first = frame.index[bad.to_numpy()][0]
        unknown = sorted(set(keys[bad]))
        row = frame.loc[first]
        shown = listed((quoted(u) for u in unknown), max_items=10)
        raise DataError(
            f"{row['origin']}: {row.get('unit', 'row')} {row['row']}: "
            f"unknown label {quoted(keys[first])} "
            f"({int(bad.sum())} row(s) with unknown labels: {shown}). Known labels: "
            f"{', '.join(cfg.labels)} (or their 0-based ids); map other values with data.label_map"
        )
    return ids.astype("int64")
