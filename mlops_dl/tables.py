"""The one reader of tabular text files: csv, tsv, jsonl (ndjson), parquet, by suffix; and
delimited text with any one-character delimiter (.csv, .tsv, .txt) laid out by a ``TextLayout``.

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
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from mlops_dl.errors import DataError, clip, listed, quoted

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
SEPARATORS = {"csv": ",", "tsv": "\t"}
DELIMITED = (".csv", ".tsv", ".txt")  # suffixes read as delimited text when a delimiter is set
# pandas' default missing-value strings, applied to every column except the raw ones
NA_STRINGS = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
              "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]
CHUNK_ROWS = 8192


@dataclass(frozen=True)
class TextLayout:
    """Delimited text: the separator ("" = by suffix), a header line or not, column names."""

    delimiter: str = ""
    header: bool = True
    columns: tuple[str, ...] = ()  # names in order (replace the header's; needed without one)


def table_format(path: Path, delimiter: str = "") -> str:
    """csv, tsv, jsonl or parquet from the file's suffix ("delimited" for .csv/.tsv/.txt when a
    delimiter is given); DataError listing them otherwise."""
    suffix = Path(path).suffix.lower()
    if delimiter and suffix in DELIMITED:
        return "delimited"
    fmt = FORMATS.get(suffix)
    if fmt is None:
        txt = "; for delimited text set the source's delimiter (e.g. ';')" if suffix == ".txt" else ""
        raise DataError(f"{path}: unsupported file type {quoted(Path(path).suffix)} "
                        f"(use {', '.join(FORMATS)}{txt})")
    if delimiter:
        raise DataError(f"{path}: a delimiter applies to delimited text ({', '.join(DELIMITED)}), "
                        f"not to {fmt}")
    return fmt


def read_chunks(path: Path, raw: list[str], rows: int = CHUNK_ROWS, encoding: str = "utf-8",
                hint: str = "", on_progress: Callable[[int], None] | None = None,
                layout: TextLayout = TextLayout()) -> Iterator[pd.DataFrame]:
    """DataFrames of ``rows`` rows from ``path``; the ``raw`` columns must exist (``hint``
    says how to pick others). ``on_progress(done)``: bytes read (rows for parquet). Blank
    lines hold no row (skipped; data/sources.py counts them)."""
    fmt = table_format(path, layout.delimiter)
    progress = on_progress or (lambda done: None)
    if fmt == "parquet":
        yield from _parquet(path, raw, rows, hint, progress)
    elif fmt == "jsonl":
        yield from _jsonl(path, raw, rows, encoding, progress)
    else:
        yield from _delimited(path, fmt, raw, rows, encoding, hint, progress, layout)


def _codec(encoding: str) -> str:
    return "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding


def _missing(path: Path, columns, raw: list[str], hint: str) -> None:
    absent = [c for c in raw if c not in columns]
    if absent:
        raise DataError(f"{path}: no column {quoted(absent[0])} (columns: {listed(columns)})"
                        + (f"; {hint}" if hint else ""))


def _delimited(path: Path, fmt: str, raw: list[str], rows: int, encoding: str, hint: str,
               progress, layout: TextLayout) -> Iterator[pd.DataFrame]:
    sep, codec = layout.delimiter or SEPARATORS[fmt], _codec(encoding)
    shape = {"sep": sep, "encoding": codec, "header": 0 if layout.header else None,
             "names": list(layout.columns) or None, "index_col": False}
    with open(path, "rb") as f:
        try:
            head = _strict(lambda: pd.read_csv(f, nrows=0 if layout.header else 1, **shape))
        except pd.errors.EmptyDataError:
            raise DataError(f"{path}: the file is empty (no header, no rows)") from None
        except (pd.errors.ParserError, pd.errors.ParserWarning, UnicodeDecodeError) as e:
            raise DataError(f"{path}: cannot read the {fmt} header: {e}") from None
        _missing(path, head.columns, raw, hint)
        f.seek(0)
        na = {c: NA_STRINGS for c in head.columns if c not in raw}
        reader = pd.read_csv(f, chunksize=rows, keep_default_na=False,
                             dtype={c: str for c in raw}, na_values=na, **shape)
        done = 0
        try:
            while (chunk := _strict(lambda: next(reader, None))) is not None:
                progress(f.tell())
                chunk.insert(0, "__row__", range(done + 1, done + len(chunk) + 1))
                done += len(chunk)
                yield chunk
        except (pd.errors.ParserError, pd.errors.ParserWarning) as e:
            quote = f" (a field holding {sep!r} must be quoted)"
            raise DataError(f"{path}: not a valid {fmt} file: {str(e).strip()}{quote}") from None
        except UnicodeDecodeError as e:
            raise DataError(f"{path}: bytes {e.object[e.start:e.end]!r} are not valid {encoding} "
                            f"({e.reason})") from None


def _strict(read: Callable):
    """``read()`` with pandas' ParserWarning raised: a line with more fields than columns is an
    error, never a silent shift of the first field into the index."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.ParserWarning)
        return read()


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
