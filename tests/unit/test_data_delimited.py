"""Own data as it comes: `text;label` .txt files, header/columns, the blank-line rule, and the
empty-split error that names every source and gives advice for the config at hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops_dl import config
from mlops_dl.cli import main
from mlops_dl.data import load_prepared, prepare
from mlops_dl.data.sources import load_source
from mlops_dl.errors import ConfigError, DataError

EMOTIONS = ["sadness", "joy", "love", "anger", "fear", "surprise"]


def emotion_lines(n: int, start: int = 0) -> list[str]:
    """``text;label`` lines, the held-back shape: no header, six labels."""
    return [f"i feel number {start + i} of the {EMOTIONS[i % 6]} kind today;{EMOTIONS[i % 6]}"
            for i in range(n)]


def write_splits(folder: Path) -> dict[str, Path]:
    """train/val/test .txt files; val has a blank line in the middle and one at the end."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"train": folder / "train.txt", "validation": folder / "val.txt",
             "test": folder / "test.txt"}
    paths["train"].write_text("\n".join(emotion_lines(60)) + "\n")
    val = emotion_lines(12, 100)
    paths["validation"].write_text("\n".join(val[:6] + [""] + val[6:]) + "\n  \n")
    paths["test"].write_text("\n".join(emotion_lines(18, 200)) + "\n")
    return paths


def emotion_config(tmp_path: Path, paths: dict[str, Path], **extra) -> config.Config:
    sources = [{"kind": "file", "path": str(p), "delimiter": ";", "header": False,
                "columns": ["text", "label"], "split": split, **extra} for split, p in paths.items()]
    return config.from_dict({"data": {
        "name": "emotion", "sources": sources, "labels": EMOTIONS,
        "output_dir": str(tmp_path / "out"), "tokenizer": str(tmp_path / "no-tokenizer")}})


def test_text_label_txt_files_prepare_with_right_counts(tmp_path, capsys):
    paths = write_splits(tmp_path / "raw")
    cfg = emotion_config(tmp_path, paths)
    card = load_prepared(prepare(cfg)).card
    assert card["splits"] == {"train": 60, "validation": 12, "test": 18}
    assert [s["blank_lines"] for s in card["sources"]] == [0, 2, 0]
    assert [s["rows"] for s in card["sources"]] == [60, 12, 18]
    assert card["cleaning"]["rows_in"] == 90 and card["cleaning"]["rows_out"] == 90
    assert card["label_balance"]["test"] == {e: 3 for e in EMOTIONS}
    # the CLI reports the blank lines per source, in text and in --json
    cfg_path = tmp_path / "emotion.yaml"
    cfg_path.write_text(json.dumps(config.to_dict(cfg)))
    assert main(["data", "prepare", "--config", str(cfg_path)]) == 0
    assert "source 1 (val.txt): 2 blank line(s) skipped" in capsys.readouterr().out
    assert main(["data", "prepare", "--config", str(cfg_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [s["blank_lines"] for s in report["sources"]] == [0, 2, 0]


def test_header_true_and_columns_rename(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("sentence;emotion\nhello there;joy\n\nso sad;sadness\n")
    src = config.SourceConfig(kind="file", path=str(path), delimiter=";", columns=["text", "label"])
    loaded = load_source(src, 0)
    assert loaded.frame["text"].tolist() == ["hello there", "so sad"]
    assert loaded.frame["raw_label"].tolist() == ["joy", "sadness"]
    assert loaded.info["blank_lines"] == 1
    named = config.SourceConfig(kind="file", path=str(path), delimiter=";",
                                text_column="sentence", label_column="emotion")
    assert load_source(named, 0).frame["raw_label"].tolist() == ["joy", "sadness"]


def test_delimited_refusals_name_the_key_or_line(tmp_path):
    path = tmp_path / "d.txt"
    path.write_text("fine;joy\nI feel; oddly;fear\n")
    with pytest.raises(DataError, match=r"unsupported file type '\.txt'.*set the source's delimiter"):
        load_source(config.SourceConfig(kind="file", path=str(path)), 0)
    with pytest.raises(ConfigError, match=r"data.sources\[0\].columns: with header: false"):
        load_source(config.SourceConfig(kind="file", path=str(path), delimiter=";", header=False), 0)
    with pytest.raises(ConfigError, match=r"data.sources\[0\].delimiter: one character"):
        load_source(config.SourceConfig(kind="file", path=str(path), delimiter=";;"), 0)
    with pytest.raises(DataError, match=r"d\.txt: not a valid delimited file.*line 2.*quoted"):
        load_source(config.SourceConfig(kind="file", path=str(path), delimiter=";", header=False,
                                        columns=["text", "label"]), 0)


def test_blank_line_rule_in_text_labels_and_jsonl(tmp_path):
    texts, labels = tmp_path / "t.txt", tmp_path / "l.txt"
    texts.write_text("good day\n\nbad day\n\n")
    labels.write_text("positive\n\nnegative\n\n")
    loaded = load_source(config.SourceConfig(kind="text_labels", path=str(texts),
                                             labels_path=str(labels)), 0)
    assert loaded.frame["row"].tolist() == [1, 3] and loaded.info["blank_lines"] == 2
    labels.write_text("positive\n\n\n\n")
    with pytest.raises(DataError, match=r"l\.txt: line 3: blank label for the text on line 3"):
        load_source(config.SourceConfig(kind="text_labels", path=str(texts),
                                        labels_path=str(labels)), 0)
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text('{"text": "a", "label": 0}\n\n   \n{"text": "b", "label": 1}\n')
    loaded = load_source(config.SourceConfig(kind="file", path=str(jsonl)), 0)
    assert loaded.frame["row"].tolist() == [1, 4] and loaded.info["blank_lines"] == 2


def test_empty_split_error_lists_every_source_and_fitting_advice(tmp_path):
    paths = write_splits(tmp_path / "raw")
    del paths["test"]  # every source gives its split, none gives test
    with pytest.raises(DataError) as err:
        prepare(emotion_config(tmp_path, paths))
    msg = str(err.value)
    assert "split 'test' is empty" in msg
    assert "source 0 (file, split train): " in msg and "train.txt: 60 loaded" in msg
    assert "source 1 (file, split validation, 2 blank line(s) skipped): " in msg
    assert "none gives test, so data.split.test_fraction applies to no row" in msg
    assert "raise data.split.test_fraction" not in msg
    # pooled rows: the fraction is the advice
    pooled = {"train": paths["train"]}
    cfg = emotion_config(tmp_path, pooled)
    cfg = config.replace(cfg, {"data.sources": [{**config.to_dict(cfg.data.sources[0]), "split": ""}],
                               "data.split.test_fraction": 0.0})
    with pytest.raises(DataError, match=r"raise data.split.test_fraction \(now 0.0\)"):
        prepare(cfg)
