"""Each cleaning step, its count, and the rows-in = rows-out + drops invariant."""

from __future__ import annotations

import pandas as pd
import pytest

from mlops_dl.config import CleanConfig
from mlops_dl.data.clean import CleanReport, clean, fix_unicode, mask_pii, normalize_whitespace


def frame(rows, split=""):
    """rows: (text, label id[, split])."""
    rows = [r if len(r) == 3 else (*r, split) for r in rows]
    return pd.DataFrame({"text": [r[0] for r in rows], "label": [r[1] for r in rows],
                         "split": [r[2] for r in rows], "origin": "f",
                         "row": range(1, len(rows) + 1)})


def steps(report: CleanReport) -> dict[str, dict]:
    return {s["step"]: s for s in report.steps}


def test_fix_unicode_repairs_mojibake_only():
    assert fix_unicode("donâ€™t") == "don’t"
    assert fix_unicode("cafÃ©") == "café"
    assert fix_unicode("fish &amp; chips") == "fish & chips"
    assert fix_unicode("“quoted” ｗｉｄｅ") == "“quoted” ｗｉｄｅ"  # style is not a repair
    assert fix_unicode("plain ascii") == "plain ascii"


def test_normalize_whitespace():
    assert normalize_whitespace("  a \t b\n\nc  ") == "a b c"
    assert normalize_whitespace("tweet with trailing space ") == "tweet with trailing space"


@pytest.mark.parametrize("text, masked", [
    ("mail me at jane.doe+x@example.co.uk now", "mail me at <email> now"),
    ("see https://t.co/abc?x=1 and www.example.com.", "see <url> and <url>."),
    ("(https://t.co/x) Companyhttps://t.co/y", "(<url>) Company<url>"),
    ("call +1 (415) 555-0132 or 020 7946 0958", "call <phone> or <phone>"),
    ("@JetBlue thanks @user!", "@user thanks @user!"),
    ("RT @a_b: year 2017, flight 1533, 45,000 ft", "RT @user: year 2017, flight 1533, 45,000 ft"),
    ("ping @c about http://x.com/@c, not a@b", "ping @user about <url>, not a@b"),
])
def test_mask_pii(text, masked):
    assert mask_pii(text) == masked


def test_each_step_is_counted_and_rows_add_up():
    df = frame([
        ("cafÃ© is great", 2),         # repaired
        ("  spaced   out  ", 1),       # whitespace
        ("write to a@b.com", 1),       # masked
        ("   ", 1),                    # empty after normalisation
        ("x", 0),                      # too short (min_chars=2)
        ("y" * 50, 0),                 # too long (max_chars=40)
        ("same text", 0), ("same  text", 2),   # conflict after normalisation: both dropped
        ("dup", 1), ("dup ", 1), ("dup", 1),   # 2 duplicates dropped, first kept
        ("keep me", 2),
    ])
    out, report = clean(df, CleanConfig(min_chars=2, max_chars=40))
    s = steps(report)
    assert s["fix_unicode"]["changed"] == 1
    assert s["normalize_whitespace"]["changed"] == 4
    assert s["mask_pii"]["changed"] == 1
    assert s["drop_empty"]["dropped"] == 1
    assert s["drop_length_outliers"]["dropped"] == 2
    assert s["drop_label_conflicts"]["dropped"] == 2
    assert s["drop_duplicates"]["dropped"] == 2
    assert report.rows_in == 12 and report.rows_out == len(out) == 5
    assert report.rows_in == report.rows_out + sum(report.dropped.values())
    assert out["text"].tolist() == ["café is great", "spaced out", "write to <email>", "dup",
                                    "keep me"]
    assert out["row"].tolist() == [1, 2, 3, 9, 12]  # provenance survives cleaning


def test_steps_can_be_turned_off():
    df = frame([("a@b.com", 0), ("a@b.com", 0), ("  ", 1)])
    cfg = CleanConfig(fix_unicode=False, normalize_whitespace=False, mask_pii=False,
                      drop_empty=False, drop_duplicates=False, drop_label_conflicts=False,
                      min_chars=0, max_chars=0)
    out, report = clean(df, cfg)
    assert len(out) == 3 and report.steps == [] and report.rows_out == 3
    assert out["text"].tolist() == ["a@b.com", "a@b.com", "  "]


def test_duplicate_keeps_the_test_copy_so_test_never_leaks():
    df = frame([("shared text", 1, ""), ("shared text", 1, "test"), ("other", 0, "")])
    out, report = clean(df, CleanConfig())
    assert report.dropped["drop_duplicates"] == 1
    kept = out[out["text"] == "shared text"]
    assert kept["split"].tolist() == ["test"]


def test_invariant_violation_raises():
    report = CleanReport(rows_in=10, steps=[{"step": "drop_empty", "dropped": 1, "rows": 8}])
    with pytest.raises(AssertionError, match="cleaning lost rows"):
        report.check()


def test_label_conflict_keeps_the_given_test_copy():
    """A feedback/train label that contradicts a test row never changes the frozen test split."""
    df = frame([("great flight", 2, "test"), ("great flight", 0, "train"),
                ("bad seat", 0, ""), ("bad seat", 1, "")])
    out, report = clean(df, CleanConfig())
    assert steps(report)["drop_label_conflicts"]["dropped"] == 3
    assert out[["text", "label", "split"]].values.tolist() == [["great flight", 2, "test"]]


def test_label_conflict_keeps_the_pooled_copy_that_hashes_into_test():
    from mlops_dl.data.split import hash_fraction

    texts = [f"tweet number {i}" for i in range(200)]
    frozen = next(t for t in texts if hash_fraction(t) < 0.2)
    df = frame([(frozen, 1, ""), (frozen, 2, "train")])
    out, _ = clean(df, CleanConfig(), test_fraction=0.2)
    assert out[["label", "split"]].values.tolist() == [[1, ""]]
    out, _ = clean(df, CleanConfig(), test_fraction=0.0)  # no frozen test: both copies go
    assert out.empty
