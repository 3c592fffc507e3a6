"""The texts a benchmark runs: a text file (labels beside it), a prepared split, or by default
the version's own frozen test split; gold label ids checked against the model's labels before
any engine loads."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mlops_dl.errors import DataError

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared/data/tweeteval-sentiment/test_text.txt"


def read_texts(data: Path | None, labels: Path | None, labels_names: list[str],
               limit: int) -> tuple[list[str], list[int] | None, str]:
    """Texts and gold label ids (None when no labels are found), first ``limit`` (0 = all).

    ``data``: a text file (one text a line, labels in --labels or the ``*_labels`` file beside
    it) or a prepared split (.parquet with columns text, label id), e.g. the frozen test split.
    """
    data = Path(data) if data else DEFAULT_DATA
    if not data.is_file():
        raise DataError(f"benchmark texts not found: {data} (give --data FILE, one text a line)")
    if data.suffix == ".parquet":
        texts, gold = _read_split(data)
    else:
        texts = [line.strip() for line in data.read_text(encoding="utf-8").splitlines()]
        gold = _read_labels(data, labels, labels_names, len(texts))
    keep = [i for i, t in enumerate(texts) if t][: limit or None]
    gold = [gold[i] for i in keep] if gold else None
    check_label_ids(gold, labels_names, str(data))
    return [texts[i] for i in keep], gold, str(data)


def check_label_ids(gold: list[int] | None, names: list[str], source: str) -> None:
    """Every gold id must index the model's labels (a 2-class model, 3-class data: refused)."""
    if gold is None or not names:
        return
    bad = next((i for i, g in enumerate(gold) if not 0 <= int(g) < len(names)), None)
    if bad is not None:
        raise DataError(f"{source}: row {bad} has label id {gold[bad]} but the model has "
                        f"{len(names)} labels {names}; give --data with this model's labels")


def bench_texts(mv, data: Path | None, labels: Path | None, limit: int
                ) -> tuple[list[str], list[int] | None, str]:
    """--data, else the version's frozen test split (found through its lineage.json)."""
    if data is not None:
        return read_texts(data, labels, list(mv.meta["labels"]), limit)
    from mlops_dl.monitor.reference import load_test_split

    split = load_test_split(mv)  # refuses data labels the model does not have
    keep = [i for i, t in enumerate(split.texts) if t]
    if limit and limit < len(keep):  # a seeded sample: split files keep source order (by label)
        keep = sorted(np.random.default_rng(0).permutation(keep)[:limit].tolist())
    gold = [split.gold[i] for i in keep]
    check_label_ids(gold, list(mv.meta["labels"]), split.data_dir)
    return [split.texts[i] for i in keep], gold, f"{split.data_dir}/test (frozen test split)"


def _read_split(path: Path) -> tuple[list[str], list[int] | None]:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    if "text" not in table.column_names:
        raise DataError(f"{path}: no 'text' column (columns: {', '.join(table.column_names)})")
    gold = table.column("label").to_pylist() if "label" in table.column_names else None
    return [str(t) for t in table.column("text").to_pylist()], gold


def _read_labels(data: Path, labels: Path | None, names: list[str], n: int) -> list[int] | None:
    if labels is None and "_text" in data.name:
        guess = data.with_name(data.name.replace("_text", "_labels"))
        labels = guess if guess.is_file() else None
    if labels is None:
        return None
    raw = [line.strip() for line in Path(labels).read_text(encoding="utf-8").splitlines()]
    if len(raw) != n:
        raise DataError(f"{labels}: {len(raw)} labels for {n} texts in {data}")
    index = {name: i for i, name in enumerate(names)}
    try:
        return [int(x) if x.isdigit() else index[x] for x in raw]
    except KeyError as e:
        raise DataError(f"{labels}: label {e} is not one of {names}") from None
