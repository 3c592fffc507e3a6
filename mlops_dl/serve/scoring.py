"""Offline batch scoring: csv / jsonl / parquet in, the same rows out with the prediction.

Streams in chunks (pandas chunked csv, line-by-line jsonl, pyarrow ``iter_batches`` for
parquet) and writes incrementally to a temp file renamed at the end, so a million-row file
never has to fit in memory and a failed run leaves no half-written output. Rows whose text is
missing or not a string are reported by row number (1-based data row; for jsonl, the line).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mlops_dl import files
from mlops_dl.errors import DataError
from mlops_dl.runtime import Predictor

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
           ".parquet": "parquet"}
# pandas' default missing-value strings, applied to every column except the text column
NA_STRINGS = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
              "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]
PRED_COLUMNS = {"pred_label": pa.string(), "pred_score": pa.float64(),
                "pred_model": pa.string(), "pred_error": pa.string()}


@dataclass
class ScoreSummary:
    rows: int = 0
    scored: int = 0
    malformed: list[tuple[int, str]] = field(default_factory=list)  # (row number, reason)
    labels: dict[str, int] = field(default_factory=dict)
    model: str = ""
    output: str = ""

    def add(self, scored: pd.DataFrame) -> None:
        """Count one scored chunk (with its ``__row__`` numbers)."""
        self.rows += len(scored)
        for row, err, label in zip(scored["__row__"], scored["pred_error"], scored["pred_label"]):
            if isinstance(err, str):
                self.malformed.append((int(row), err))
            else:
                self.scored += 1
                self.labels[label] = self.labels.get(label, 0) + 1


def file_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(f"{path}: unsupported file type {path.suffix!r} "
                        f"(use {', '.join(FORMATS)})")
    return fmt


def read_chunks(path: Path, column: str, rows: int, on_progress=None,
                row_groups: list[int] | None = None, first_row: int = 1) -> Iterator[pd.DataFrame]:
    """The rows of ``path`` in chunks of ``rows``, each with ``__row__`` (the row number errors
    name: 1-based data row, or the line for jsonl) and, for unparsable jsonl lines, ``__error__``.

    ``on_progress(done)`` gets bytes read (csv/tsv/jsonl) or rows read (parquet). For parquet,
    ``row_groups`` reads only those groups, ``first_row`` being the number of their first row.
    """
    fmt = file_format(path)
    report = on_progress or (lambda done: None)
    if fmt == "parquet":
        return _parquet_chunks(path, column, rows, report, row_groups, first_row)
    if fmt == "jsonl":
        return _jsonl_chunks(path, rows, report)
    return _csv_chunks(path, column, rows, report, sep="\t" if fmt == "tsv" else ",")


def _csv_chunks(path: Path, column: str, rows: int, on_bytes, sep: str) -> Iterator[pd.DataFrame]:
    with open(path, "rb") as f:
        try:
            head = pd.read_csv(f, nrows=0, sep=sep)
        except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as e:
            raise DataError(f"{path}: not a readable {file_format(path)} file: {e}") from None
        if column not in head.columns:
            raise DataError(f"{path}: no column {column!r} (columns: {', '.join(head.columns)}); "
                            f"pick one with --text-column")
        f.seek(0)
        # the text column is read raw: "NA" stays a text and an empty cell is an empty text
        na = {c: NA_STRINGS for c in head.columns if c != column}
        reader = pd.read_csv(f, chunksize=rows, sep=sep, dtype={column: str},
                             keep_default_na=False, na_values=na)
        done = 0
        try:
            for chunk in reader:
                chunk["__row__"] = range(done + 1, done + len(chunk) + 1)
                done += len(chunk)
                on_bytes(f.tell())
                yield chunk
        except (pd.errors.ParserError, UnicodeDecodeError) as e:
            raise DataError(f"{path}: not a readable {file_format(path)} file after data row "
                            f"{done}: {e}") from None


def _jsonl_chunks(path: Path, rows: int, on_bytes) -> Iterator[pd.DataFrame]:
    records: list[dict] = []
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw)
                if not isinstance(rec, dict):
                    raise ValueError(f"expected a JSON object, got {type(rec).__name__}")
            except (ValueError, UnicodeDecodeError) as e:
                rec = {"__error__": f"invalid JSON line: {e}"}
            rec["__row__"] = lineno
            records.append(rec)
            if len(records) >= rows:
                on_bytes(f.tell())
                yield pd.DataFrame.from_records(records)
                records = []
        if records:
            on_bytes(f.tell())
            yield pd.DataFrame.from_records(records)


def _parquet_chunks(path: Path, column: str, rows: int, on_rows, row_groups: list[int] | None,
                    first_row: int) -> Iterator[pd.DataFrame]:
    pf = parquet_file(path)
    if column not in pf.schema_arrow.names:
        raise DataError(f"{path}: no column {column!r} (columns: "
                        f"{', '.join(pf.schema_arrow.names)}); pick one with --text-column")
    done = 0
    for batch in pf.iter_batches(batch_size=rows, row_groups=row_groups):
        chunk = batch.to_pandas()
        chunk["__row__"] = range(first_row + done, first_row + done + len(chunk))
        done += batch.num_rows
        on_rows(done)
        yield chunk


def parquet_file(path: Path) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise DataError(f"{path}: not a readable parquet file: {e}") from None


def _check_text(value, column: str) -> str | None:
    """None when the cell is a usable text, else why not."""
    if value is None or (isinstance(value, float) and value != value):
        return f"missing {column!r}"
    if not isinstance(value, str):
        return f"{column!r} is {type(value).__name__}, not a string"
    if not value.strip():
        return f"empty {column!r}"
    return None


class _Writer:
    """Appends scored chunks to ``tmp`` in the output's format."""

    def __init__(self, fmt: str, tmp: Path):
        self.fmt, self.tmp, self.first, self.parquet = fmt, tmp, True, None
        self.f = None if fmt == "parquet" else open(tmp, "w", encoding="utf-8", newline="")

    def write(self, df: pd.DataFrame) -> None:
        if self.fmt in ("csv", "tsv"):
            df.to_csv(self.f, header=self.first, index=False, sep="\t" if self.fmt == "tsv" else ",")
        elif self.fmt == "jsonl":
            for rec in df.to_dict(orient="records"):
                self.f.write(json.dumps({k: v for k, v in rec.items() if not _is_na(v)},
                                        ensure_ascii=False, default=str) + "\n")
        else:
            self._write_parquet(df)
        self.first = False

    def _write_parquet(self, df: pd.DataFrame) -> None:
        table = to_arrow(df)
        if self.parquet is None:
            self.parquet = pq.ParquetWriter(self.tmp, table.schema)
        try:
            table = table.cast(self.parquet.schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as e:
            raise DataError(f"column types change between chunks ({e}); write csv or jsonl "
                            f"instead") from None
        self.parquet.write_table(table)

    def close(self) -> None:
        if self.f is not None:
            self.f.close()
        if self.parquet is not None:
            self.parquet.close()


def _is_na(v) -> bool:
    return v is None or (isinstance(v, float) and v != v)


def to_arrow(df: pd.DataFrame) -> pa.Table:
    """``df`` as an Arrow table with the pred_* types fixed; a column mixing strings with other
    values (jsonl ``{"text": 42}`` beside texts) is stored as text, the others as JSON."""
    try:
        table = pa.Table.from_pandas(df, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        df = df.copy()
        for col in df.columns[df.dtypes == object]:
            df[col] = [v if isinstance(v, str) or _is_na(v) else json.dumps(v, default=str)
                       for v in df[col]]
        table = pa.Table.from_pandas(df, preserve_index=False)
    fields = [pa.field(f.name, PRED_COLUMNS.get(f.name, f.type)) for f in table.schema]
    return table.cast(pa.schema(fields))


def score_file(predictor: Predictor, input_path: str | Path, output_path: str | Path,
               text_column: str = "text", strict: bool = False, chunk_rows: int = 8192,
               progress: Callable[[int, int], None] | None = None) -> ScoreSummary:
    """Score every row of ``input_path`` into ``output_path`` (format from its suffix).

    ``progress(done, total)`` is called after each chunk (bytes for csv/tsv/jsonl, rows for
    parquet). With ``strict`` the first malformed row raises DataError and no output is kept.
    """
    src, dst = Path(input_path), Path(output_path)
    if not src.is_file():
        raise DataError(f"input file not found: {src}")
    in_fmt, out_fmt = file_format(src), file_format(dst)
    total = parquet_file(src).metadata.num_rows if in_fmt == "parquet" else src.stat().st_size
    report = (lambda done: progress(done, total)) if progress else None
    summary = ScoreSummary(model=predictor.ref, output=str(dst))

    def score_into(tmp: Path) -> None:
        writer = _Writer(out_fmt, tmp)
        try:
            for chunk in read_chunks(src, text_column, chunk_rows, report):
                errors = row_errors(chunk, text_column, src, strict)
                out = score_rows(predictor, chunk, text_column, errors)
                summary.add(out)
                writer.write(out.drop(columns="__row__"))
        finally:
            writer.close()

    files.write_with(dst, score_into)
    return summary


def row_errors(chunk: pd.DataFrame, column: str, src: Path | str,
               strict: bool) -> list[str | None]:
    """Why each row cannot be scored (None: it can); pops ``__error__``. ``strict``: the first
    bad row raises DataError naming ``src`` and its row number."""
    parse_errors = chunk.pop("__error__").tolist() if "__error__" in chunk else [None] * len(chunk)
    values = chunk[column].tolist() if column in chunk else [None] * len(chunk)
    errors = [pe if isinstance(pe, str) else _check_text(v, column)
              for pe, v in zip(parse_errors, values)]
    if strict:
        for row, err in zip(chunk["__row__"], errors):
            if err is not None:
                raise DataError(f"{src}: row {row}: {err} (drop --strict to skip such rows)")
    return errors


def score_rows(predictor: Predictor, chunk: pd.DataFrame, column: str,
               errors: list[str | None]) -> pd.DataFrame:
    """The chunk plus pred_label, pred_score, pred_model, pred_error (set where errors are)."""
    good = [i for i, e in enumerate(errors) if e is None]
    labels: list[str | None] = [None] * len(chunk)
    scores: list[float | None] = [None] * len(chunk)
    if good:
        values = chunk[column].tolist()
        probs = predictor.predict_proba([values[i] for i in good])  # (G, L)
        for i, row in zip(good, probs):
            best = int(row.argmax())
            labels[i], scores[i] = predictor.labels[best], float(row[best])
    out = chunk.copy()
    out["pred_label"] = pd.Series(labels, index=chunk.index, dtype=object)
    out["pred_score"] = pd.Series(scores, index=chunk.index, dtype="float64")
    out["pred_model"] = predictor.ref
    out["pred_error"] = pd.Series(errors, index=chunk.index, dtype=object)
    return out
