"""The one reader of tabular text files: csv, tsv, jsonl (ndjson), parquet, by suffix.

``data prepare`` (data/sources.py) and ``predict`` (serve/scoring.py) both read through
``read_chunks``, so a file one of them accepts the other accepts too. Chunks stream (pandas
chunked csv/tsv, line-by-line jsonl, pyarrow ``iter_batches``), so a large file never has to
fit in memory. Every chunk carries ``__row__`` (1-based data row; for jsonl the line) and, for
jsonl, ``__error__`` on a line that is not a JSON object or lacks a required field. The
``raw`` columns are read as text exactly as written ("NA" stays a text, an empty cell is "").
Torch-free; imports only errors.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from mlops_dl.errors import DataError, clip, listed, quoted

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
SEPARATORS = {"csv": ",", "tsv": "\t"}
# pandas' default missing-value strings, applied to every column except the raw ones
NA_STRINGS = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
              "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]
CHUNK_ROWS = 8192


def table_format(path: Path) -> str:
    """csv, tsv, jsonl or parquet from the file's suffix; DataError listing them otherwise."""
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise DataError(f"{path}: unsupported file type {quoted(Path(path).suffix)} "
                        f"(use {', '.join(FORMATS)})")
    return fmt


def read_chunks(path: Path, raw: list[str], rows: int = CHUNK_ROWS, encoding: str = "utf-8",
                hint: str = "", on_progress: Callable[[int], None] | None = None,
                ) -> Iterator[pd.DataFrame]:
    """DataFrames of ``rows`` rows from ``path``; the ``raw`` columns must exist (``hint``
    says how to pick others). ``on_progress(done)``: bytes read (rows for parquet)."""
    fmt = table_format(path)
    progress = on_progress or (lambda done: None)
    if fmt == "parquet":
        yield from _parquet(path, raw, rows, hint, progress)
    elif fmt == "jsonl":
        yield from _jsonl(path, raw, rows, encoding, progress)
    else:
        yield from _delimited(path, fmt, raw, rows, encoding, hint, progress)


def _codec(encoding: str) -> str:
    return "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding


def _missing(path: Path, columns, raw: list[str], hint: str) -> None:
    absent = [c for c in raw if c not in columns]
    if absent:
        raise DataError(f"{path}: no column {quoted(absent[0])} (columns: {listed(columns)})"
                        + (f"; {hint}" if hint else ""))


def _delimited(path: Path, fmt: str, raw: list[str], rows: int, encoding: str, hint: str,
               progress) -> Iterator[pd.DataFrame]:
    sep, codec = SEPARATORS[fmt], _codec(encoding)
    with open(path, "rb") as f:
        try:
            head = pd.read_csv(f, nrows=0, sep=sep, encoding=codec)
        except pd.errors.EmptyDataError:
            raise DataError(f"{path}: the file is empty (no header, no rows)") from None
        except (pd.errors.ParserError, UnicodeDecodeError) as e:
            raise DataError(f"{path}: cannot read the {fmt} header: {e}") from None
        _missing(path, head.columns, raw, hint)
        f.seek(0)
        na = {c: NA_STRINGS for c in head.columns if c not in raw}
        reader = pd.read_csv(f, sep=sep, encoding=codec, chunksize=rows, keep_default_na=False,
                             dtype={c: str for c in raw}, na_values=na)
        done = 0
        try:
            for chunk in reader:
                progress(f.tell())
                chunk.insert(0, "__row__", range(done + 1, done + len(chunk) + 1))
                done += len(chunk)
                yield chunk
        except pd.errors.ParserError as e:
            raise DataError(f"{path}: not a valid {fmt} file: {e}") from None
        except UnicodeDecodeError as e:
            raise DataError(f"{path}: bytes {e.object[e.start:e.end]!r} are not valid {encoding} "
                            f"({e.reason})") from None


def _jsonl(path: Path, raw: list[str], rows: int, encoding: str, progress) -> Iterator[pd.DataFrame]:
    """One record per line (split on b"\\n" only: texts may hold other line separators)."""
    records: list[dict] = []
    codec = _codec(encoding)
    with open(path, "rb") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            records.append({**_record(line, codec, raw), "__row__": lineno})
            if len(records) >= rows:
                progress(f.tell())
                yield pd.DataFrame.from_records(records)
                records = []
        if records:
            progress(f.tell())
            yield pd.DataFrame.from_records(records)


def _record(line: bytes, codec: str, raw: list[str]) -> dict:
    try:
        rec = json.loads(line.decode(codec))
    except UnicodeDecodeError as e:
        return {"__error__": f"bytes {line[e.start:e.end]!r} are not valid {codec}"}
    except (ValueError, RecursionError) as e:  # also a >4300-digit integer, deep nesting
        return {"__error__": f"not valid JSON ({getattr(e, 'msg', None) or clip(str(e) or type(e).__name__)})"}
    if not isinstance(rec, dict):
        return {"__error__": f"expected a JSON object, got {type(rec).__name__}"}
    absent = [c for c in raw if c not in rec]
    if absent:
        return {**rec, "__error__": f"no field {quoted(absent[0])} (fields: {listed(rec)})"}
    return rec


def _parquet(path: Path, raw: list[str], rows: int, hint: str, progress) -> Iterator[pd.DataFrame]:
    try:
        pf = pq.ParquetFile(path)
    except Exception as e:  # noqa: BLE001 - pyarrow raises many types for bad files
        raise DataError(f"{path}: not a readable parquet file: {e}") from None
    _missing(path, pf.schema_arrow.names, raw, hint)
    done = 0
    for batch in pf.iter_batches(batch_size=rows):
        chunk = batch.to_pandas()
        chunk.insert(0, "__row__", range(done + 1, done + len(chunk) + 1))
        done += len(chunk)
        progress(done)
        yield chunk


def total_for_progress(path: Path) -> int:
    """What ``on_progress`` counts up to: rows for parquet, bytes otherwise."""
    if table_format(path) == "parquet":
        return pq.ParquetFile(path).metadata.num_rows
    return Path(path).stat().st_size
