"""Frozen hash test split, stratified validation, user-given splits, fingerprints."""

from __future__ import annotations

import pandas as pd
import pytest

from mlops_dl.config import SplitConfig
from mlops_dl.data.prepared import fingerprint
from mlops_dl.data.split import assign_splits, check_split, hash_fraction
from mlops_dl.errors import ConfigError, DataError


def rows(n, start=0, split=""):
    return pd.DataFrame({"text": [f"text number {i}" for i in range(start, start + n)],
                         "label": [i % 3 for i in range(start, start + n)], "split": split})


def test_hash_fraction_is_stable_and_uniform():
    assert hash_fraction("hello") == hash_fraction("hello")
    # sha256("hello") starts with 2cf24dba5fb0a30e -> a fixed number, on every machine
    assert hash_fraction("hello") == pytest.approx(int("2cf24dba5fb0a30e", 16) / 2**64)
    values = [hash_fraction(f"t{i}") for i in range(4000)]
    assert all(0 <= v < 1 for v in values)
    assert 0.08 < sum(v < 0.1 for v in values) / 4000 < 0.12


def test_adding_rows_never_moves_a_test_row_to_train():
    cfg = SplitConfig(seed=1, validation_fraction=0.2, test_fraction=0.2)
    small = assign_splits(rows(500), cfg)
    grown = assign_splits(pd.concat([rows(500), rows(1500, start=500)], ignore_index=True),
                          SplitConfig(seed=99, validation_fraction=0.2, test_fraction=0.2))
    old_test = set(small["test"]["text"])
    assert old_test <= set(grown["test"]["text"])
    assert not old_test & (set(grown["train"]["text"]) | set(grown["validation"]["text"]))
    new_test = set(grown["test"]["text"]) - old_test
    assert new_test and all(int(t.split()[-1]) >= 500 for t in new_test)


def test_validation_is_stratified_and_seeded():
    df = rows(900)
    a = assign_splits(df, SplitConfig(seed=7, validation_fraction=0.1, test_fraction=0.1))
    b = assign_splits(df, SplitConfig(seed=7, validation_fraction=0.1, test_fraction=0.1))
    c = assign_splits(df, SplitConfig(seed=8, validation_fraction=0.1, test_fraction=0.1))
    assert fingerprint(a["validation"]) == fingerprint(b["validation"])
    assert fingerprint(a["validation"]) != fingerprint(c["validation"])
    assert fingerprint(a["test"]) == fingerprint(c["test"])  # test ignores the seed
    non_test = a["train"]["label"].value_counts() + a["validation"]["label"].value_counts()
    for label, n in non_test.items():
        assert (a["validation"]["label"] == label).sum() == round(n * 0.1)
    assert sum(len(f) for f in a.values()) == 900


def test_user_given_test_split_is_kept_and_nothing_hashed_into_test():
    df = pd.concat([rows(300), rows(30, start=1000, split="test")], ignore_index=True)
    out = assign_splits(df, SplitConfig(validation_fraction=0.2, test_fraction=0.5))
    assert out["test"]["text"].tolist() == df[df["split"] == "test"]["text"].tolist()
    assert len(out["train"]) + len(out["validation"]) == 300


def test_user_given_validation_split_sends_pool_to_train():
    df = pd.concat([rows(300), rows(30, start=1000, split="validation")], ignore_index=True)
    out = assign_splits(df, SplitConfig(validation_fraction=0.2, test_fraction=0.2))
    assert len(out["validation"]) == 30
    assert len(out["train"]) + len(out["test"]) == 300


def test_fingerprint_changes_with_content_and_order():
    df = rows(10)
    fp = fingerprint(df)
    assert fp == fingerprint(df.copy()) and len(fp) == 64
    assert fp != fingerprint(df.iloc[::-1])
    changed = df.copy()
    changed.loc[0, "label"] = 2
    assert fp != fingerprint(changed)


def test_bad_fractions_and_empty_splits():
    with pytest.raises(ConfigError, match="data.split.test_fraction"):
        check_split(SplitConfig(test_fraction=1.5))
    with pytest.raises(ConfigError, match="must be below 1"):
        check_split(SplitConfig(validation_fraction=0.6, test_fraction=0.5))
    with pytest.raises(DataError, match="split 'test' is empty"):
        assign_splits(rows(300), SplitConfig(test_fraction=0.0))
