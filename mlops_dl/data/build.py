"""Config -> prepared dataset: load sources, map labels, clean, split, card, plots, write.

The one path every source kind takes; ``prepare(cfg)`` returns ``<output_dir>/<name>``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import pandas as pd

from mlops_dl import config as config_mod
from mlops_dl.data import card as card_mod
from mlops_dl.data.clean import clean
from mlops_dl.data.labels import check_labels, map_labels
from mlops_dl.data.plots import label_balance_png, length_histogram_png
from mlops_dl.data.prepared import output_path, write_prepared
from mlops_dl.data.sources import load_source
from mlops_dl.data.split import EmptySplitError, assign_splits, check_split
from mlops_dl.errors import ConfigError, DataError

Progress = Callable[[str], None]


def prepare(
    cfg: config_mod.Config,
    config_path: str | Path | None = None,
    progress: Progress | None = None,
) -> Path:
    """Build the prepared dataset for ``cfg``.

    Relative source paths are tried from the current directory, then from ``config_path``'s.
    """
    say = progress or (lambda msg: None)
    data = cfg.data
    check_labels(data)
    check_split(data.split)
    if not data.sources:
        raise ConfigError("data.sources: list at least one source")
    root = output_path(cfg)
    config_dir = Path(config_path).resolve().parent if config_path else None

    # 1. load every source through the same path, then map raw labels to ids
    t0 = time.perf_counter()
    loaded = []
    for i, src in enumerate(data.sources):
        say(f"loading source {i} ({src.kind})")
        loaded.append(load_source(src, i, config_dir, row_limit(data, src)))
        loaded[-1].info["max_rows"] = row_limit(data, src)
    frame = pd.concat([s.frame for s in loaded], ignore_index=True)
    frame["label"] = map_labels(frame, data)
    sources = [s.info for s in loaded]
    for info, src in zip(sources, loaded):
        ids = map_labels(src.frame, data)
        info["label_balance"] = card_mod.label_balance(ids, data.labels)
    balance_before = card_mod.label_balance(frame["label"], data.labels)

    # 2. clean (every step counted), 3. split (frozen hash test, stratified validation)
    say(f"cleaning {len(frame)} rows")
    cleaned, report = clean(frame, data.clean, data.split.test_fraction)
    try:
        frames = assign_splits(cleaned, data.split)
    except EmptySplitError as e:  # each source's rows per step, and advice for this config
        raise DataError(empty_split_message(e, frame, report, data, sources)) from None
    given = sorted({s.split for s in data.sources if s.split})
    method = _split_method(given, data.split)

    # 4. lengths (chars + tokens), card, plots; 5. write atomically
    say("computing length statistics")
    tok_ref = data.tokenizer or cfg.model.name
    lengths, tok = card_mod.length_section(frames, tok_ref, cfg.model.max_length)
    card = card_mod.build_card(
        name=data.name, labels=data.labels, sources=sources, balance_before=balance_before,
        cleaning=report.as_dict(), frames=frames, lengths=lengths, tokenizer=tok["info"],
        split_config=config_mod.to_dict(data.split), split_method=method,
        data_config=config_mod.to_dict(data),
    )
    card["seconds"] = round(time.perf_counter() - t0, 2)
    say("drawing plots")
    plots = {
        "label_balance.png": label_balance_png(card["label_balance"], data.labels, data.name),
        "length_histogram.png": length_histogram_png(tok["raw"], data.name, cfg.model.max_length),
    }
    return write_prepared(root, frames, card, plots)


def row_limit(data: config_mod.DataConfig, src: config_mod.SourceConfig) -> int:
    """The rows ``data.max_rows_per_source`` keeps of ``src`` (0 = all): train-bound sources
    (split train or pooled) only, unless data.max_rows_scope is all."""
    bound = data.max_rows_scope == "all" or src.split in ("", "train")
    return data.max_rows_per_source if bound else 0


def subsample_lines(card: dict) -> list[str]:
    """What data.max_rows_per_source did, one line per source, for `data prepare` to print."""
    limit = (card.get("config") or {}).get("max_rows_per_source") or 0
    if not limit:
        return []
    lines = []
    for i, info in enumerate(card.get("sources", [])):
        where = info.get("path") or info.get("hub_id") or f"source {i}"
        split = info.get("split", "pooled")
        if info.get("max_rows"):
            lines.append(f"data.max_rows_per_source {limit}: source {i} ({where}, {split}) kept "
                         f"{info['rows']} of {info['rows_available']} rows")
        else:
            lines.append(f"data.max_rows_per_source {limit}: source {i} ({where}, {split}) not cut "
                         f"(data.max_rows_scope: train; set it to all to cut {split} sources)")
    return lines


def empty_split_message(e: EmptySplitError, frame: pd.DataFrame, report, data: config_mod.DataConfig,
                        sources: list[dict]) -> str:
    """The empty split, every source's rows (lines, blank, loaded, dropped per step, left, into
    which split) and the advice that applies to the sources at hand."""
    lines = []
    for i, (src, info) in enumerate(zip(data.sources, sources)):
        origin = info.get("labels_path") or info.get("path") or ""
        rows = frame[frame["origin"] == origin] if origin else frame.iloc[0:0]
        blank = f", {info['blank_lines']} blank line(s) skipped" if info.get("blank_lines") else ""
        detail = report.losses(rows, {origin}) if len(rows) else f"{origin}: 0 loaded"
        lines.append(f"source {i} ({src.kind}, split {src.split or 'pooled'}{blank}): {detail}")
    given = {s.split for s in data.sources if s.split}
    pooled = any(not s.split for s in data.sources)
    fraction = {"test": "test_fraction", "validation": "validation_fraction"}.get(e.split)
    if e.split in given:
        advice = (f"every row of the split: {e.split} source(s) was dropped by cleaning (the "
                  f"steps above name the keys that control them)")
    elif e.split == "train":
        advice = ("lower data.split.validation_fraction / test_fraction" if pooled else
                  "no source gives split: train and none is pooled: add one, or leave a "
                  "source's split unset")
    elif pooled:
        advice = (f"raise data.split.{fraction} (now {getattr(data.split, fraction)}) or add a "
                  f"source with split: {e.split}")
    else:
        advice = (f"every source gives its split ({', '.join(sorted(given))}) and none gives "
                  f"{e.split}, so data.split.{fraction} applies to no row: add a source with "
                  f"split: {e.split}, or leave a source's split unset so its rows are pooled")
    return f"{e.args[0].split(';')[0]}. Rows by source: " + "; ".join(lines) + f". To fix: {advice}"


def _split_method(given: list[str], split: config_mod.SplitConfig) -> str:
    parts = []
    if "test" in given:
        parts.append("test: as given by the source(s) with split: test")
    else:
        parts.append(f"test: frozen, sha256(text) -> [0,1) < {split.test_fraction}")
    if "validation" in given:
        parts.append("validation: as given by the source(s) with split: validation")
    else:
        parts.append(f"validation: stratified {split.validation_fraction} of the rest, "
                     f"seed {split.seed}")
    return "; ".join(parts)
