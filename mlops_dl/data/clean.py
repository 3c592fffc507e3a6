"""Cleaning: text repairs (counted as changed rows) then row drops (counted per step).

Steps, in order:
  1. fix_unicode            repair mis-decoded text (ftfy)                     changed
  2. normalize_whitespace   collapse runs of whitespace, strip the ends         changed
  3. mask_pii               private data (Presidio, mlops_dl.pii) -> tokens     changed
  4. drop_empty             texts empty after 1-3                               dropped
  5. drop_length_outliers   shorter than min_chars or longer than max_chars     dropped
  6. drop_label_conflicts   the same text with different labels: every copy     dropped
  7. drop_duplicates        the same text and label again: all but the first    dropped

Nothing disappears silently: ``rows_in == rows_out + sum(dropped)`` is checked on every run.
When a text repeats across splits, the copy in a user-given test split is kept first, then
validation, then train, then pooled rows, so duplicates never leak a test text into training.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from dataclasses import dataclass, field

import pandas as pd

from mlops_dl import pii
from mlops_dl.config import CleanConfig
from mlops_dl.config.schema import PII_ENTITIES
from mlops_dl.data.split import frozen_test_mask
from mlops_dl.errors import clip

WHITESPACE = re.compile(r"\s+")
SPLIT_PRIORITY = {"test": 0, "validation": 1, "train": 2, "": 3}
STEP_KEYS = {"drop_empty": "data.clean.drop_empty",
             "drop_length_outliers": "data.clean.min_chars / max_chars",
             "drop_label_conflicts": "data.clean.drop_label_conflicts",
             "drop_duplicates": "data.clean.drop_duplicates"}


@dataclass
class CleanReport:
    """Counts per step; ``steps`` is the ordered table the CLI prints and the card stores."""

    rows_in: int
    steps: list[dict] = field(default_factory=list)

    @property
    def rows_out(self) -> int:
        return self.steps[-1]["rows"] if self.steps else self.rows_in

    @property
    def dropped(self) -> dict[str, int]:
        return {s["step"]: s["dropped"] for s in self.steps if "dropped" in s}

    @property
    def changed(self) -> dict[str, int]:
        return {s["step"]: s["changed"] for s in self.steps if "changed" in s}

    def check(self) -> None:
        """rows in = rows out + every counted drop (a bug otherwise, not a user error)."""
        if self.rows_in != self.rows_out + sum(self.dropped.values()):
            raise AssertionError(
                f"cleaning lost rows: {self.rows_in} in != {self.rows_out} out + "
                f"{sum(self.dropped.values())} dropped ({self.dropped})"
            )

    def losses(self, frame: pd.DataFrame, origins: set[str] | None = None,
               max_sources: int = 10) -> str:
        """Per source of ``frame`` (the rows cleaned): rows loaded, dropped by which step, left."""
        parts = []
        for origin, n in frame["origin"].value_counts(sort=False).items():
            if origins is not None and origin not in origins:
                continue
            drops = [(s["step"], s.get("by_source", {}).get(origin, 0)) for s in self.steps]
            why = [f"{k} by {step} ({STEP_KEYS[step]})" for step, k in drops if k]
            left = n - sum(k for _, k in drops)
            parts.append(f"{clip(str(origin))}: {n} loaded, "
                         f"{', '.join(why) or 'none dropped'}, {left} left")
        more = len(parts) - max_sources
        return "; ".join(parts[:max_sources]) + (f"; … ({more} more sources)" if more > 0 else "")

    def as_dict(self) -> dict:
        return {"rows_in": self.rows_in, "rows_out": self.rows_out, "steps": self.steps,
                "dropped": self.dropped, "changed": self.changed}


def fix_unicode(text: str) -> str:
    """Repair mojibake (``donâ€™t`` -> ``don’t``) and HTML entities (``&amp;`` -> ``&``).

    Only repairs: curly quotes, full-width forms and ligatures are kept as written.
    """
    if text.isascii() and "&" not in text:
        return text
    import ftfy

    return ftfy.fix_text(text, config=_ftfy_config())


@functools.cache
def _ftfy_config():
    import ftfy

    return ftfy.TextFixerConfig(uncurl_quotes=False, fix_character_width=False,
                                fix_latin_ligatures=False)


def normalize_whitespace(text: str) -> str:
    return WHITESPACE.sub(" ", text).strip()


def mask_pii(text: str, entities=PII_ENTITIES) -> str:
    """Private data -> one token per entity (<email>, <url>, <phone>, <credit_card>, <iban>,
    <ip>, <ssn>, @user, <person>): see mlops_dl.pii."""
    return pii.mask(text, tuple(entities))


def _mask_column(texts: pd.Series, entities: list[str]) -> tuple[pd.Series, dict]:
    """Masked texts and the card's entry: per-entity counts and how masking ran."""
    masker = pii.masker(tuple(entities))
    counts: Counter = Counter()
    out = []
    for text in texts:
        masked, found = masker.mask(text)
        counts.update(found)
        out.append(masked)
    entry = {"entities_masked": {e: counts.get(e, 0) for e in masker.entities},
             **masker.describe()}
    return pd.Series(out, index=texts.index, dtype=object), entry


def clean(frame: pd.DataFrame, cfg: CleanConfig,
          test_fraction: float = 0.0) -> tuple[pd.DataFrame, CleanReport]:
    """Apply the configured steps to ``frame`` (columns text, label, split, ...).

    ``test_fraction`` is the frozen-test hash share: test rows survive label conflicts.
    """
    report = CleanReport(rows_in=len(frame))
    df = frame.copy()
    repairs = [("fix_unicode", cfg.fix_unicode, fix_unicode),
               ("normalize_whitespace", cfg.normalize_whitespace, normalize_whitespace),
               ("mask_pii", cfg.mask_pii, None)]
    for name, enabled, fn in repairs:
        if enabled:
            extra = {}
            if fn is None:  # masking: counted per entity in the card too
                new, extra = _mask_column(df["text"], cfg.pii_entities)
            else:
                new = df["text"].map(fn)
            report.steps.append({"step": name, "changed": int((new != df["text"]).sum()),
                                 "rows": len(df), **extra})
            df["text"] = new
    lengths = df["text"].str.len()
    drops = [
        ("drop_empty", cfg.drop_empty, lambda d: d["text"].str.strip() == ""),
        ("drop_length_outliers", cfg.min_chars > 0 or cfg.max_chars > 0, lambda d: _outside(
            lengths.loc[d.index], cfg.min_chars, cfg.max_chars)),
        ("drop_label_conflicts", cfg.drop_label_conflicts,
         lambda d: _conflicting_copies(d, test_fraction)),
        ("drop_duplicates", cfg.drop_duplicates, _later_copies),
    ]
    for name, enabled, mask_fn in drops:
        if enabled:
            mask = mask_fn(df)
            entry = {"step": name, "dropped": int(mask.sum()), "rows": int(len(df) - mask.sum())}
            if mask.any() and "origin" in df:  # rows dropped per source, for errors and the card
                counts = df.loc[mask.to_numpy(), "origin"].value_counts()
                entry["by_source"] = {str(k): int(v) for k, v in counts.items()}
            report.steps.append(entry)
            df = df[~mask]
    report.check()
    return df.reset_index(drop=True), report


def _outside(lengths: pd.Series, min_chars: int, max_chars: int) -> pd.Series:
    too_short = lengths < min_chars if min_chars > 0 else False
    too_long = lengths > max_chars if max_chars > 0 else False
    return pd.Series(too_short | too_long, index=lengths.index)


def _conflicting_copies(df: pd.DataFrame, test_fraction: float) -> pd.Series:
    """Every copy of a text whose labels disagree, except copies in the frozen test split.

    The test split is the user-given one, or else the pooled rows whose text hashes into it; a
    conflicting copy elsewhere (e.g. a feedback label) never changes the frozen test rows.
    """
    conflict = df.groupby("text")["label"].transform("nunique") > 1
    in_test = df["split"] == "test"
    if not in_test.any() and test_fraction > 0:
        in_test = (df["split"].fillna("") == "") & frozen_test_mask(df["text"], test_fraction)
    return conflict & ~in_test


def _later_copies(df: pd.DataFrame) -> pd.Series:
    """True for every copy of a (text, label) after the first (split priority, then order)."""
    order = df["split"].map(SPLIT_PRIORITY).fillna(3)
    ranked = df.assign(_p=order, _i=range(len(df))).sort_values(["_p", "_i"], kind="stable")
    dup = ranked.duplicated(["text", "label"], keep="first")
    return dup.reindex(df.index)
