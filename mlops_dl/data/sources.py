"""Read every kind of source into one raw table: text, raw label, where each row came from.

Kinds: ``hub`` (a Hugging Face dataset id), ``file`` (csv, tsv, jsonl, parquet; delimited text
with ``delimiter`` / ``header`` / ``columns``, .txt included), ``text_labels``
(parallel text / label files, one row per line) and ``package`` (a file shipped inside an
installed package, located without importing it). Every kind yields the same columns::

    text (str)  raw_label (object)  origin (str: the file holding the label, or hub split)
    row (int, 1-based)  unit ("line" for jsonl / text_labels, "row" for tables: header excluded)
    split ("" pooled, or the split the source gives)

One blank-line rule for every line-based file: a line holding only white space is no row; it is
skipped and counted (``blank_lines`` in the source's card entry; text_labels: a line blank in
both files). Relative paths: the current directory first, then the config file's directory.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd

from mlops_dl import files, tables
from mlops_dl.config import SourceConfig
from mlops_dl.errors import ConfigError, DataError, MlopsError, listed, quoted
from mlops_dl.locate import package_file

COLUMNS = ["text", "raw_label", "origin", "row", "unit", "split"]
HUB_PROBE_TIMEOUT_S = 3.0


@dataclass
class LoadedSource:
    """One source's rows plus what the data card records about it."""

    frame: pd.DataFrame  # columns COLUMNS
    info: dict = field(default_factory=dict)


def load_source(
    src: SourceConfig, index: int, config_dir: Path | None = None, max_rows: int = 0
) -> LoadedSource:
    """Load one configured source; errors name the file (or hub id) and the row."""
    check_source(src, index)
    if src.kind == "hub":
        frame, info = _load_hub(src, index, max_rows)
    else:
        path = locate_source(src, index, config_dir)
        if src.kind == "text_labels":
            labels_path = resolve_path(src.labels_path, config_dir,
                                       f"data.sources[{index}].labels_path")
            frame, blank = _read_text_labels(path, labels_path, src.encoding)
            info = {"path": str(path), "sha256": files.sha256_file(path),
                    "labels_path": str(labels_path), "labels_sha256": files.sha256_file(labels_path)}
        else:
            frame, blank = _read_table(path, src)
            info = {"path": str(path), "sha256": files.sha256_file(path)}
        info["blank_lines"] = blank
    rows_available = len(frame)
    if max_rows > 0:
        frame = frame.iloc[:max_rows]
    if frame.empty:
        raise DataError(f"{info.get('path') or src.hub_id}: the source has no data rows")
    frame = frame.assign(split=src.split).reset_index(drop=True)
    info = {"kind": src.kind, **info, "encoding": src.encoding, "split": src.split or "pooled",
            "rows_available": rows_available, "rows": len(frame)}
    if src.kind == "package":
        info["package"] = src.package
    return LoadedSource(frame[COLUMNS], info)


def check_source(src: SourceConfig, index: int) -> None:
    """Each kind's required keys are set (ConfigError naming the key otherwise)."""
    need = {"hub": ["hub_id"], "file": ["path"], "text_labels": ["path", "labels_path"],
            "package": ["package", "path"]}[src.kind]
    for key in need:
        if not getattr(src, key):
            raise ConfigError(f"data.sources[{index}]: kind {src.kind} needs {key}")
    if src.kind == "hub" and not src.hub_splits:
        raise ConfigError(f"data.sources[{index}].hub_splits: list at least one split")
    key = f"data.sources[{index}]"
    if src.delimiter and len(src.delimiter) != 1:
        raise ConfigError(f"{key}.delimiter: one character (e.g. ';' or a tab), got "
                          f"{quoted(src.delimiter)}")
    if (src.delimiter or not src.header or src.columns) and src.kind not in ("file", "package"):
        raise ConfigError(f"{key}: delimiter / header / columns apply to kind file, not {src.kind}")
    if not src.header and not src.columns:
        raise ConfigError(f"{key}.columns: with header: false name the columns in order, "
                          f"e.g. columns: [{src.text_column}, {src.label_column}]")
    if len(set(src.columns)) != len(src.columns):
        raise ConfigError(f"{key}.columns: names must be unique, got {src.columns}")


def resolve_path(raw: str, config_dir: Path | None, key: str) -> Path:
    """Absolute paths as is; relative ones: the current directory first, then the config's."""
    path = Path(raw).expanduser()
    if path.is_absolute():
        tried = [path]
    else:
        tried = [Path.cwd() / path] + ([config_dir / path] if config_dir else [])
    for cand in tried:
        if cand.is_file():
            return cand.resolve()
    raise DataError(f"{key}: file not found: {raw} (looked at {', '.join(map(str, tried))})")


def locate_source(src: SourceConfig, index: int, config_dir: Path | None) -> Path:
    if src.kind == "package":
        return package_file(src.package, src.path)
    return resolve_path(src.path, config_dir, f"data.sources[{index}].path")


def _decode(path: Path, encoding: str) -> str:
    """The file's text; undecodable bytes -> DataError naming the 1-based line."""
    data = path.read_bytes()
    codec = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    try:
        return data.decode(codec)
    except LookupError:
        raise ConfigError(f"{path}: unknown encoding {quoted(encoding)} in the source config") from None
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise DataError(
            f"{path}: line {line}: bytes {data[e.start:e.end]!r} are not valid {encoding} "
            f"({e.reason}); set `encoding:` in the source config (e.g. latin-1) if the file "
            f"uses another encoding"
        ) from None


def blank_line_count(text: str) -> int:
    """Lines holding only white space (the blank-line rule: no row, skipped, counted)."""
    return sum(1 for line in _lines(text) if not line.strip())


def _lines(text: str) -> list[str]:
    """Split on newlines only (tweets may hold other Unicode line separators)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def _read_text_labels(path: Path, labels_path: Path, encoding: str) -> tuple[pd.DataFrame, int]:
    """(rows, blank lines): a line blank in both files is skipped and counted; a blank label
    beside a text is an error naming the line."""
    texts = _lines(_decode(path, encoding))
    labels = [x.strip() for x in _lines(_decode(labels_path, encoding))]
    if len(texts) != len(labels):
        raise DataError(
            f"{path} has {len(texts)} lines but {labels_path} has {len(labels)}: "
            f"text and label files must hold one row per line, in the same order"
        )
    keep = [i for i, (t, y) in enumerate(zip(texts, labels)) if t.strip() or y]
    lone = next((i for i in keep if not labels[i]), None)
    if lone is not None:
        raise DataError(f"{labels_path}: line {lone + 1}: blank label for the text on line "
                        f"{lone + 1} of {path} (a line blank in both files is skipped)")
    frame = pd.DataFrame({"text": [texts[i] for i in keep], "raw_label": [labels[i] for i in keep],
                          "origin": str(labels_path), "row": [i + 1 for i in keep], "unit": "line"})
    return frame, len(texts) - len(keep)


def _read_table(path: Path, src: SourceConfig) -> tuple[pd.DataFrame, int]:
    """csv / tsv / jsonl / parquet / delimited text through mlops_dl.tables (predict's reader
    too) -> (text, raw_label columns; blank lines skipped)."""
    try:
        fmt = tables.table_format(path, src.delimiter)
    except DataError as e:
        raise DataError(f"{e}, or kind text_labels for parallel text/label files") from None
    if fmt != "delimited" and (not src.header or src.columns):
        raise DataError(f"{path}: header / columns apply to delimited text; set the source's "
                        f"delimiter to read it as such")
    blank = 0 if fmt == "parquet" else blank_line_count(_decode(path, src.encoding))
    cols = [src.text_column, src.label_column]
    layout = tables.TextLayout(src.delimiter, src.header, tuple(src.columns))
    hint = "set text_column / label_column in the source config" + (
        "" if src.header else " (the names come from columns)")
    chunks = list(tables.read_chunks(path, cols, rows=1 << 16, encoding=src.encoding,
                                     hint=hint, layout=layout))
    df = pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame(columns=["__row__", *cols])
    if "__error__" in df.columns:
        bad = df[df["__error__"].notna()]
        if len(bad):
            row = bad.iloc[0]
            hint = "; set text_column / label_column in the source config" if "no field" in row["__error__"] else ""
            raise DataError(f"{path}: line {row['__row__']}: {row['__error__']}{hint}")
    return _select(df, path, src, "line" if fmt == "jsonl" else "row"), blank


def _select(df: pd.DataFrame, origin: Path | str, src: SourceConfig, unit: str = "row") -> pd.DataFrame:
    """Map the configured columns to text/raw_label; rows numbered from 1 (lines for jsonl)."""
    for key, col in (("text_column", src.text_column), ("label_column", src.label_column)):
        if col not in df.columns:
            raise DataError(f"{origin}: no column {quoted(col)} (columns: {listed(df.columns)}); "
                            f"set {key} in the source config")
    rows = df["__row__"] if "__row__" in df.columns else range(1, len(df) + 1)
    text = df[src.text_column].map(lambda t: "" if t is None or t != t else str(t))
    return pd.DataFrame({"text": text.to_numpy(), "raw_label": df[src.label_column].to_numpy(),
                         "origin": str(origin), "row": list(rows), "unit": unit})


# ----------------------------------------------------------------------------- hub
def _load_hub(src: SourceConfig, index: int, max_rows: int) -> tuple[pd.DataFrame, dict]:
    """``datasets.load_dataset`` per split; offline or unknown ids fail fast and clearly."""
    ref = f"{src.hub_id}" + (f"/{src.hub_config}" if src.hub_config else "")
    offline = any(os.environ.get(v, "").lower() in ("1", "true", "yes")
                  for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))
    if not offline and not _hub_reachable():
        raise hub_offline_error(ref, "the hub cannot be reached from this machine")
    import datasets  # heavy; only hub sources need it

    frames = []
    for split in src.hub_splits:
        try:
            ds = datasets.load_dataset(src.hub_id, src.hub_config or None,
                                       split=f"{split}[:{max_rows}]" if max_rows > 0 else split)
        except datasets.exceptions.DatasetNotFoundError as e:
            if offline:
                raise hub_offline_error(ref, _first_line(e), offline) from None
            raise MlopsError(f"hub dataset {ref!r} not found on the Hugging Face hub (or gated): "
                             f"{_first_line(e)}; check data.sources[{index}].hub_id") from None
        except Exception as e:  # noqa: BLE001 - network errors come in many types
            if isinstance(e, ConnectionError) or _looks_offline(e):
                raise hub_offline_error(ref, _first_line(e), offline) from None
            raise MlopsError(f"hub dataset {ref!r} split {split!r} (config "
                             f"{src.hub_config or 'default'!r}): {_first_line(e)}") from None
        df = ds.to_pandas()  # ClassLabel columns arrive as int ids: mapped by index or label_map
        frames.append(_select(df, f"hub:{ref}[{split}]", src))
    info = {"hub_id": src.hub_id, "hub_config": src.hub_config, "hub_splits": list(src.hub_splits)}
    return pd.concat(frames, ignore_index=True), info


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0] if text else ''}"


def _looks_offline(err: Exception) -> bool:
    text = f"{type(err).__name__} {err}".lower()
    words = ("offline", "connect", "timeout", "timed out", "resolve", "reach")
    return any(w in text for w in words)


def _hub_reachable() -> bool:
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    url = urlparse(endpoint)
    try:
        with socket.create_connection((url.hostname, url.port or 443), timeout=HUB_PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False


def hub_offline_error(ref: str, why: str, offline_env: bool = False) -> MlopsError:
    mode = " (HF_HUB_OFFLINE / HF_DATASETS_OFFLINE is set, so only the local cache is used)" \
        if offline_env else ""
    return MlopsError(
        f"hub dataset {ref!r} could not be loaded: offline or not reachable{mode}: {why}. "
        f"On a machine without internet, point the source at local files instead "
        f"(kind: file with a csv/tsv/jsonl/parquet path, or kind: text_labels)."
    )
