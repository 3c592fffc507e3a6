"""prepare(cfg) end to end on fixture files, the data card, plots, and the `data` CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from mlops_dl import config
from mlops_dl.cli import main
from mlops_dl.data import load_prepared, prepare
from mlops_dl.errors import DataError

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "data"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory) -> Path:
    """A model-less directory with a word-level tokenizer.json (enough for token statistics)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    words = {w for t in (FIX / "texts.txt").read_text().split("\n") for w in t.split()}
    vocab = {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, **{w: i + 3 for i, w in enumerate(sorted(words))}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]",
                                                       special_tokens=[("[CLS]", 1), ("[SEP]", 2)])
    out = tmp_path_factory.mktemp("tok")
    tok.save(str(out / "tokenizer.json"))
    (out / "config.json").write_text("{}")
    return out


def three_class(tmp_path, tokenizer, **data) -> dict:
    raw = {"data": {
        "name": "fixture3",
        "sources": [
            {"kind": "file", "path": str(FIX / "tweets.jsonl"), "text_column": "tweet",
             "label_column": "y"},
            {"kind": "text_labels", "path": str(FIX / "texts.txt"),
             "labels_path": str(FIX / "labels.txt"), "split": "test"},
        ],
        "labels": ["negative", "neutral", "positive"],
        "output_dir": str(tmp_path / "out"),
        "tokenizer": str(tokenizer),
        "split": {"validation_fraction": 0.2, "test_fraction": 0.3},
        **data,
    }}
    return raw


def test_prepare_three_class_with_given_test_split(tmp_path, tokenizer_dir):
    texts = [f"held out tweet {i} " for i in range(9)]
    (tmp_path / "t.txt").write_text("\n".join(texts) + "\n")
    (tmp_path / "l.txt").write_text("".join(f"{i % 3}\n" for i in range(9)))
    raw = three_class(tmp_path, tokenizer_dir)
    raw["data"]["sources"][1].update(path=str(tmp_path / "t.txt"),
                                     labels_path=str(tmp_path / "l.txt"))
    root = prepare(config.from_dict(raw))
    assert root == tmp_path / "out" / "fixture3"
    data = load_prepared(root)
    card = data.card
    c = card["cleaning"]
    assert c["rows_in"] == 39 and c["rows_out"] == 39
    test_texts, test_labels = data.texts_labels("test")
    assert test_texts == [t.strip() for t in texts] and test_labels == [0, 1, 2] * 3
    assert card["splits"]["train"] + card["splits"]["validation"] == 30
    assert card["splits"]["validation"] == 6  # 20 % of each of 3 labels x 10
    assert "as given" in card["split_method"]
    assert card["labels"] == ["negative", "neutral", "positive"]


def test_prepare_counts_card_and_plots(tmp_path, tokenizer_dir):
    raw = three_class(tmp_path, tokenizer_dir)
    raw["data"]["sources"] = raw["data"]["sources"][:1]  # pooled jsonl only, 30 rows
    raw["data"]["sources"].append({"kind": "file", "path": str(FIX / "reviews.tsv"),
                                   "label_column": "label"})
    raw["data"]["label_map"] = {"0": "negative", "1": "positive", "2": "positive"}
    cfg = config.from_dict(raw)
    root = prepare(cfg)
    card = load_prepared(root).card
    c = card["cleaning"]
    assert c["rows_in"] == 50 and c["rows_out"] + sum(c["dropped"].values()) == 50
    # the tsv repeats the jsonl's negative and positive texts with the same labels
    assert c["dropped"]["drop_duplicates"] == 20 and c["rows_out"] == 30
    # jsonl label 1 is neutral by index but the label_map sends "1" to positive: it wins
    assert card["label_balance_before_cleaning"] == {"negative": 20, "neutral": 0, "positive": 30}
    assert sum(card["splits"].values()) == c["rows_out"]
    for split, bal in card["label_balance"].items():
        assert sum(bal.values()) == card["splits"][split]
        frame = pd.read_parquet(root / f"{split}.parquet")
        assert list(frame.columns) == ["text", "label"] and str(frame["label"].dtype) == "int64"
    assert card["lengths"]["train"]["tokens"]["count"] == card["splits"]["train"]
    assert card["tokenizer"]["loaded"] is True
    assert [s["sha256"] for s in card["sources"]] and card["sources"][0]["rows"] == 30
    assert set(card["fingerprints"]) == {"train", "validation", "test"}
    for png in ("label_balance.png", "length_histogram.png"):
        assert (root / "plots" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_prepare_is_deterministic_and_overwrites(tmp_path, tokenizer_dir):
    cfg = config.from_dict(three_class(tmp_path, tokenizer_dir, sources=[
        {"kind": "file", "path": str(FIX / "tweets.jsonl"), "text_column": "tweet",
         "label_column": "y"}]))
    first = load_prepared(prepare(cfg)).fingerprints
    second = load_prepared(prepare(cfg)).fingerprints
    assert first == second
    leftovers = [p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]
    assert leftovers == [".fixture3.lock"]  # no temp or old directories left behind


def test_unloadable_tokenizer_is_recorded_not_fatal(tmp_path):
    cfg = config.from_dict(three_class(tmp_path, tmp_path / "no-such-model-dir", sources=[
        {"kind": "file", "path": str(FIX / "tweets.jsonl"), "text_column": "tweet",
         "label_column": "y"}]))
    card = load_prepared(prepare(cfg)).card
    assert card["tokenizer"]["loaded"] is False and "does not exist" in card["tokenizer"]["skipped"]
    assert "tokens" not in card["lengths"]["train"] and card["lengths"]["train"]["chars"]["count"]


def test_relative_source_resolved_from_config_dir(tmp_path, tokenizer_dir, monkeypatch):
    (tmp_path / "cfgs").mkdir()
    (tmp_path / "cfgs" / "tweets.jsonl").write_bytes((FIX / "tweets.jsonl").read_bytes())
    raw = three_class(tmp_path, tokenizer_dir, sources=[
        {"kind": "file", "path": "tweets.jsonl", "text_column": "tweet", "label_column": "y"}])
    path = tmp_path / "cfgs" / "c.yaml"
    path.write_text(yaml.safe_dump(raw))
    monkeypatch.chdir(tmp_path)
    cfg = config.load(path)
    with pytest.raises(DataError, match="file not found: tweets.jsonl"):
        prepare(cfg)
    card = load_prepared(prepare(cfg, config_path=path)).card
    assert card["sources"][0]["path"] == str(tmp_path / "cfgs" / "tweets.jsonl")


# ----------------------------------------------------------------------------- CLI
def write_config(tmp_path, raw) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_cli_prepare_and_profile(tmp_path, tokenizer_dir, capsys):
    raw = three_class(tmp_path, tokenizer_dir, sources=[
        {"kind": "file", "path": str(FIX / "tweets.jsonl"), "text_column": "tweet",
         "label_column": "y"}])
    path = write_config(tmp_path, raw)
    assert main(["data", "prepare", "--config", str(path), "--set", "data.name=viacli"]) == 0
    out = capsys.readouterr().out
    assert "drop_duplicates" in out and "30 in = 30 out + 0 dropped" in out
    assert str(tmp_path / "out" / "viacli") in out.replace("\n", "")
    assert main(["data", "profile", str(tmp_path / "out" / "viacli")]) == 0
    out = capsys.readouterr().out
    assert "data card: viacli" in out and "fingerprint test" in out and "tokens" in out
    assert main(["data", "profile", str(path), "--set", "data.name=viacli", "--json"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["name"] == "viacli" and card["cleaning"]["rows_in"] == 30


@pytest.mark.parametrize("source, message", [
    ({"kind": "file", "path": str(FIX / "bad_encoding.csv")}, "bad_encoding.csv: line 3"),
    ({"kind": "file", "path": str(FIX / "missing_column.csv")}, "no column 'label'"),
    ({"kind": "file", "path": str(FIX / "unknown_label.csv")}, "row 3: unknown label 'meh'"),
    ({"kind": "file", "path": str(FIX / "empty.csv")}, "empty.csv: the file is empty"),
    ({"kind": "text_labels", "path": str(FIX / "short_texts.txt"),
      "labels_path": str(FIX / "short_labels.txt")}, "has 3 lines but"),
])
def test_cli_errors_exit_nonzero_without_traceback(tmp_path, source, message, capsys):
    raw = {"data": {"name": "bad", "sources": [source], "labels": ["negative", "positive"],
                    "label_map": {"neg": "negative", "pos": "positive"},
                    "output_dir": str(tmp_path / "out")}}
    assert main(["data", "prepare", "--config", str(write_config(tmp_path, raw))]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out" / "bad").exists()


def test_cli_subprocess_error_has_no_traceback(tmp_path):
    raw = {"data": {"name": "bad", "sources": [{"kind": "file", "path": "nowhere.csv"}],
                    "labels": ["a", "b"], "output_dir": str(tmp_path / "out")}}
    path = write_config(tmp_path, raw)
    cmd = [sys.executable, "-m", "mlops_dl", "data", "prepare", "--config", str(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2
    assert "file not found: nowhere.csv" in " ".join(proc.stderr.split())
    assert "Traceback" not in proc.stderr + proc.stdout


def test_cli_bad_set_names_the_key(tmp_path, capsys):
    path = write_config(tmp_path, three_class(tmp_path, tmp_path))
    assert main(["data", "prepare", "-c", str(path), "--set", "data.clean.max_chars=lots"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "key data.clean.max_chars: expected an integer" in err and "Traceback" not in err
    assert main(["data", "profile", str(tmp_path / "missing")]) == 2
    assert "not a prepared dataset" in capsys.readouterr().err


def test_concurrent_writers_leave_one_complete_dataset(tmp_path):
    import threading

    from mlops_dl.data.prepared import write_prepared

    def frames(tag):
        df = pd.DataFrame({"text": [f"{tag} {i}" for i in range(5)], "label": [0, 1, 0, 1, 0]})
        return {"train": df, "validation": df, "test": df}

    errors = []

    def writer(tag):
        try:
            for _ in range(5):
                write_prepared(tmp_path / "ds", frames(tag), {"labels": ["a", "b"], "tag": tag}, {})
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(t,)) for t in ("x", "y", "z")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    data = load_prepared(tmp_path / "ds")
    tag = data.card["tag"]
    assert all(t.startswith(tag) for t in data.texts_labels("train")[0])
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == ["ds"]


def test_prepare_binary_from_csv_and_parquet(tmp_path, tokenizer_dir):
    extra = pd.DataFrame({"review": [f"extra review number {i}" for i in range(20)],
                          "sentiment": ["pos", "neg"] * 10})
    extra.to_parquet(tmp_path / "extra.parquet")
    raw = {"data": {
        "name": "binary", "labels": ["negative", "positive"],
        "label_map": {"neg": "negative", "pos": "positive"},
        "sources": [{"kind": "file", "path": str(p), "text_column": "review",
                     "label_column": "sentiment"}
                    for p in (FIX / "reviews.csv", tmp_path / "extra.parquet")],
        "output_dir": str(tmp_path / "out"), "tokenizer": str(tokenizer_dir),
        "split": {"validation_fraction": 0.25, "test_fraction": 0.25}}}
    data = load_prepared(prepare(config.from_dict(raw)))
    assert data.labels == ["negative", "positive"]
    assert sum(data.card["splits"].values()) == 40
    assert {lab for s in ("train", "validation", "test") for lab in data.texts_labels(s)[1]} == {0, 1}
    assert data.card["label_balance_before_cleaning"] == {"negative": 20, "positive": 20}


def test_cli_error_is_one_line_with_the_path_as_given(tmp_path, capsys):
    odd = tmp_path / ("[bold]" + "x" * 120) / "missing"  # longer than 80 columns, rich markup
    assert main(["data", "profile", str(odd)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"error: {odd}: not a prepared dataset" in err


def test_piped_console_is_wide_unless_columns_is_set(monkeypatch):
    from mlops_dl.cli.common import PIPED_WIDTH, make_console

    monkeypatch.delenv("COLUMNS", raising=False)
    assert make_console().width == PIPED_WIDTH  # pytest's captured stdout is not a terminal
    monkeypatch.setenv("COLUMNS", "100")
    assert make_console(stderr=True).width == 100


def test_split_empty_after_cleaning_names_the_sources_and_the_steps(tmp_path):
    """One tsv whose only row is a length outlier, next to a test source the cleaning kept."""
    (tmp_path / "one.tsv").write_text("text\tlabel\n" + "x" * 50 + "\tpos\n")
    (tmp_path / "dups.tsv").write_text("text\tlabel\nsame\tneg\nsame\tneg\n")
    (tmp_path / "test.tsv").write_text("text\tlabel\ngood text\tneg\nother text\tpos\n")
    raw = {"name": "empty", "labels": ["neg", "pos"], "output_dir": str(tmp_path / "out"),
           "sources": [{"kind": "file", "path": str(tmp_path / "one.tsv")},
                       {"kind": "file", "path": str(tmp_path / "dups.tsv"), "split": "train"},
                       {"kind": "file", "path": str(tmp_path / "test.tsv"), "split": "test"}],
           "clean": {"max_chars": 20}}
    with pytest.raises(DataError) as e:
        prepare(config.from_dict({"data": raw}))
    msg = str(e.value)
    assert "split 'validation' is empty after cleaning" in msg
    assert (f"{tmp_path / 'one.tsv'}: 1 loaded, 1 by drop_length_outliers "
            "(data.clean.min_chars / max_chars), 0 left") in msg
    # every source is listed with its split, so the user sees where the rows went
    assert "source 1 (file, split train): " in msg and "dups.tsv: 2 loaded, 1 by drop_duplicates" in msg
    assert "source 2 (file, split test): " in msg and "test.tsv: 2 loaded, none dropped, 2 left" in msg
    assert msg.endswith("To fix: raise data.split.validation_fraction (now 0.1) or add a source "
                        "with split: validation")
    # every row of a pooled source dropped, by three steps; validation and test given
    (tmp_path / "one.tsv").write_text("text\tlabel\n" + "x" * 50 + "\tpos\n \tneg\nc\tneg\nc\tpos\n")
    raw["sources"][1]["split"] = "validation"
    with pytest.raises(DataError) as e:
        prepare(config.from_dict({"data": raw}))
    assert "split 'train' is empty" in str(e.value)
    assert (f"{tmp_path / 'one.tsv'}: 4 loaded, 1 by drop_empty (data.clean.drop_empty), "
            "1 by drop_length_outliers (data.clean.min_chars / max_chars), "
            "2 by drop_label_conflicts (data.clean.drop_label_conflicts), 0 left") in str(e.value)
    assert "To fix: lower data.split.validation_fraction / test_fraction" in str(e.value)


def test_max_rows_per_source_cuts_train_bound_sources_and_says_so(tmp_path, tokenizer_dir, capsys):
    """The pooled source (30 rows) is cut to 12; the test source (9 rows) is kept whole unless
    data.max_rows_scope is all; `data prepare` prints both."""
    (tmp_path / "t.txt").write_text("".join(f"held out tweet {i}\n" for i in range(9)))
    (tmp_path / "l.txt").write_text("".join(f"{i % 3}\n" for i in range(9)))
    raw = three_class(tmp_path, tokenizer_dir, max_rows_per_source=12)
    raw["data"]["sources"][1].update(path=str(tmp_path / "t.txt"), labels_path=str(tmp_path / "l.txt"))
    path = write_config(tmp_path, raw)
    assert main(["data", "prepare", "--config", str(path)]) == 0
    out = capsys.readouterr().out.replace("\n", "")
    card = load_prepared(tmp_path / "out" / "fixture3").card
    assert [s["rows"] for s in card["sources"]] == [12, 9]
    assert card["splits"]["test"] == 9 and card["splits"]["train"] + card["splits"]["validation"] == 12
    assert "source 0 (" in out and "kept 12 of 30 rows" in out
    assert "source 1 (" in out and "test) not cut (data.max_rows_scope: train" in out
    assert main(["data", "prepare", "--config", str(path), "--set", "data.max_rows_scope=all",
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert load_prepared(tmp_path / "out" / "fixture3").card["splits"]["test"] == 9
    assert any("kept 9 of 9 rows" in line for line in report["subsample"])
