"""Offline batch scoring: csv / tsv / jsonl / parquet in, the same rows out with the prediction.

Reads through mlops_dl.tables (the reader ``data prepare`` uses: same formats, streamed in
chunks) and writes incrementally to a temp file renamed at the end, so a million-row file
never has to fit in memory and a failed run leaves no half-written output. Rows whose text is
missing or not a string are reported by row number (1-based data row; for jsonl, the line).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mlops_dl import files, tables
from mlops_dl.errors import DataError
from mlops_dl.runtime import Predictor
from mlops_dl.serve.requests import is_blank

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


def _check_text(value, column: str) -> str | None:
    """None when the cell is a usable text, else why not."""
    if value is None or (isinstance(value, float) and value != value):
        return f"missing {column!r}"
    if not isinstance(value, str):
        return f"{column!r} is {type(value).__name__}, not a string"
    if is_blank(value):
        return f"empty {column!r}"
    return None


class _Writer:
    """Appends scored chunks to ``tmp`` in the output's format."""

    def __init__(self, fmt: str, tmp: Path):
        self.fmt, self.tmp, self.first, self.parquet = fmt, tmp, True, None
        self.f = None if fmt == "parquet" else open(tmp, "w", encoding="utf-8", newline="")

    def write(self, df: pd.DataFrame) -> None:
        if self.fmt in tables.SEPARATORS:
            df.to_csv(self.f, sep=tables.SEPARATORS[self.fmt], header=self.first, index=False)
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
    tables.table_format(src)
    out_fmt = tables.table_format(dst)
    total = tables.total_for_progress(src)
    report = (lambda done: progress(done, total)) if progress else (lambda done: None)
    summary = ScoreSummary(model=predictor.ref, output=str(dst))

    def score_into(tmp: Path) -> None:
        writer = _Writer(out_fmt, tmp)
        try:
            chunks = tables.read_chunks(src, [text_column], chunk_rows,
                                        hint="pick one with --text-column", on_progress=report)
            for chunk in chunks:
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
