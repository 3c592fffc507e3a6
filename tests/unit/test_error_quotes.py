"""Messages quote at most ~200 characters of any user value (issue 16: a 5 MB line, echoed)."""

from __future__ import annotations

import json

import pytest

from mlops_dl import config
from mlops_dl.config import SourceConfig
from mlops_dl.data.labels import map_labels
from mlops_dl.data.sources import load_source
from mlops_dl.errors import MlopsError
from mlops_dl.registry import parse_ref

HUGE = "x" * 5_000_000
SHORT = 600  # a quoted value (~200 characters) plus the message around it


def test_helpers_clip_and_mark_the_cut():
    from mlops_dl.errors import MESSAGE_CHARS, QUOTE_CHARS, bounded, listed, quoted

    assert quoted("abc") == "'abc'" and quoted(3) == "3"
    q = quoted(HUGE)
    assert len(q) < QUOTE_CHARS + 40 and q.endswith("… (5,000,000 characters)")
    assert len(quoted(list(range(10_000)))) == QUOTE_CHARS + 1
    names = listed([HUGE, *range(50)])
    assert len(names) < 2 * QUOTE_CHARS and names.endswith("… (31 more)")
    assert len(bounded(HUGE)) < MESSAGE_CHARS + 50 and len(str(MlopsError(HUGE))) < MESSAGE_CHARS + 50


@pytest.mark.parametrize("suffix", [".csv", ".tsv"])
def test_one_huge_line_as_a_header_is_not_echoed(tmp_path, suffix):
    path = tmp_path / f"one-line{suffix}"
    path.write_text("word " * 1_000_000)  # 5 MB, no newline: all header
    with pytest.raises(MlopsError) as e:
        load_source(SourceConfig(kind="file", path=str(path)), 0)
    assert "no column 'text'" in str(e.value) and "…" in str(e.value)
    assert len(str(e.value)) < len(str(path)) + SHORT


def test_huge_jsonl_field_name_and_label_are_not_echoed(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps({HUGE: 1, "label": 0}) + "\n")
    with pytest.raises(MlopsError) as e:
        load_source(SourceConfig(kind="file", path=str(path)), 0)
    assert "no field 'text'" in str(e.value) and len(str(e.value)) < len(str(path)) + SHORT
    path.write_text(json.dumps({"text": "hi", "label": HUGE}) + "\n")
    frame = load_source(SourceConfig(kind="file", path=str(path)), 0).frame
    cfg = config.from_dict({"data": {"name": "t", "labels": ["a", "b"],
                                     "sources": [{"kind": "file", "path": "x"}]}}).data
    with pytest.raises(MlopsError) as e:
        map_labels(frame, cfg)
    assert "unknown label 'xxx" in str(e.value) and len(str(e.value)) < len(str(path)) + 2 * SHORT


def test_huge_model_reference_and_config_value_are_not_echoed():
    with pytest.raises(MlopsError) as e:
        parse_ref("m:" + "9" * 100_000 + "x")
    assert len(str(e.value)) < SHORT
    with pytest.raises(MlopsError) as e:
        config.from_dict({"train": {"lr": HUGE}})
    assert "train.lr" in str(e.value) and len(str(e.value)) < SHORT


def test_huge_request_field_is_not_echoed():
    from mlops_dl.config import ServeConfig
    from mlops_dl.serve.requests import ApiError, parse_texts

    with pytest.raises(ApiError) as e:
        parse_texts(json.dumps({"texts": ["a"], HUGE: 1}).encode(), ServeConfig())
    assert e.value.status == 422 and len(e.value.message) < SHORT and len(e.value.field) < SHORT
