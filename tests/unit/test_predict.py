"""Batch scoring (`mlops-dl predict`): csv/jsonl/parquet, malformed rows, --strict, chunking."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from mlops_dl.cli import main
from mlops_dl.errors import DataError
from mlops_dl.runtime import from_registry
from mlops_dl.serve.scoring import score_file

TEXTS = ["love great awesome", "hate awful", "the meeting is at noon", "NA", "good coffee"]


@pytest.fixture(scope="module")
def predictor(tiny_registry):
    return from_registry("tiny:1", tiny_registry)


def expected(predictor, texts):
    return [r["label"] for r in predictor.predict(texts)]


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl", "parquet"])
def test_same_rows_out_with_predictions(predictor, tmp_path, fmt):
    df = pd.DataFrame({"id": range(len(TEXTS)), "text": TEXTS, "label": [2, 0, 1, 1, 2]})
    src = tmp_path / f"in.{fmt}"
    {"csv": lambda: df.to_csv(src, index=False),
     "tsv": lambda: df.to_csv(src, index=False, sep="\t"),
     "jsonl": lambda: df.to_json(src, orient="records", lines=True),
     "parquet": lambda: df.to_parquet(src, index=False)}[fmt]()
    for out_fmt in ("csv", "tsv", "jsonl", "parquet"):
        dst = tmp_path / f"out-{fmt}.{out_fmt}"
        summary = score_file(predictor, src, dst, chunk_rows=2)  # several chunks
        out = read(dst)
        assert summary.rows == summary.scored == len(TEXTS) and not summary.malformed
        assert out["id"].tolist() == list(range(len(TEXTS)))
        assert out["text"].tolist() == TEXTS  # "NA" stays a text
        assert out["label"].tolist() == [2, 0, 1, 1, 2]  # gold column untouched
        assert out["pred_label"].tolist() == expected(predictor, TEXTS)
        assert (out["pred_model"] == "tiny:1").all()
        assert out["pred_score"].between(0, 1).all()


def read(path):
    if path.suffix in (".csv", ".tsv"):
        return pd.read_csv(path, keep_default_na=False, na_values=[""],
                           sep="\t" if path.suffix == ".tsv" else ",")
    if path.suffix in (".jsonl", ".ndjson"):
        return pd.read_json(path, lines=True, dtype=False)
    return pd.read_parquet(path)


def test_jsonl_malformed_rows_reported_by_line(predictor, tmp_path):
    src = tmp_path / "in.jsonl"
    lines = ['{"text": "love it"}', '{"text": 42}', "{not json", '{"other": "x"}', "",
             '{"text": null}', '["a list"]', '{"text": "   "}', '{"text": "hate it"}']
    src.write_text("\n".join(lines) + "\n")
    dst = tmp_path / "out.jsonl"
    summary = score_file(predictor, src, dst, chunk_rows=3)
    rows = [r for r, _ in summary.malformed]
    assert rows == [2, 3, 4, 6, 7, 8]
    reasons = dict(summary.malformed)
    assert "int" in reasons[2] and "not valid JSON" in reasons[3] and "no field 'text'" in reasons[4]
    out = [json.loads(x) for x in dst.read_text().splitlines()]
    assert len(out) == 8 and summary.rows == 8 and summary.scored == 2
    assert out[0]["pred_label"] and "pred_error" not in out[0]
    assert out[1]["pred_error"] and "pred_label" not in out[1]
    with pytest.raises(DataError, match="row 2: 'text' is int"):
        score_file(predictor, src, tmp_path / "strict.jsonl", strict=True)
    assert not (tmp_path / "strict.jsonl").exists()
    assert not list(tmp_path.glob(".*.tmp"))


def test_csv_missing_text_and_bad_column(predictor, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text('id,text\n1,love it\n2,\n3,"multi\nline hate"\n4,ok\n')
    summary = score_file(predictor, src, tmp_path / "out.parquet")
    assert summary.malformed == [(2, "empty 'text'")]
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert out["pred_label"].isna().tolist() == [False, True, False, False]
    with pytest.raises(DataError, match="no column 'body'.*id, text"):
        score_file(predictor, src, tmp_path / "o.csv", text_column="body")
    with pytest.raises(DataError, match="unsupported file type '.xlsx'"):
        score_file(predictor, src, tmp_path / "o.xlsx")
    with pytest.raises(DataError, match="input file not found"):
        score_file(predictor, tmp_path / "nope.csv", tmp_path / "o.csv")


def test_parquet_non_string_column(predictor, tmp_path):
    src = tmp_path / "in.parquet"
    pd.DataFrame({"text": ["love", None, "hate"]}).to_parquet(src)
    summary = score_file(predictor, src, tmp_path / "out.csv", chunk_rows=1)
    assert summary.malformed == [(2, "missing 'text'")] and summary.scored == 2
    pd.DataFrame({"text": [1, 2]}).to_parquet(src)
    with pytest.raises(DataError, match="row 1: 'text' is int"):
        score_file(predictor, src, tmp_path / "out.csv", strict=True)


def test_cli_predict(tiny_registry, tmp_path, capsys):
    src = tmp_path / "in.csv"
    pd.DataFrame({"body": ["love", "", "hate"]}).to_csv(src, index=False)
    dst = tmp_path / "out.jsonl"
    rc = main(["predict", "tiny:1", "--registry", str(tiny_registry), "--input", str(src),
               "--output", str(dst), "--text-column", "body", "--json"])
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rows"] == 3 and report["scored"] == 2 and report["model"] == "tiny:1"
    assert report["malformed_rows"] == [{"row": 2, "reason": "empty 'body'"}]
    rc = main(["predict", "tiny:1", "--registry", str(tiny_registry), "--input", str(src),
               "--output", str(dst), "--text-column", "body", "--strict"])
    assert rc != 0 and "row 2" in capsys.readouterr().err
    rc = main(["predict", "nope:1", "--registry", str(tiny_registry), "--input", str(src),
               "--output", str(dst)])
    assert rc != 0


def test_predict_reads_every_format_data_prepare_reads(predictor, tmp_path):
    """One reader (mlops_dl.tables): each file `data prepare` loads, `predict` scores."""
    from mlops_dl.config import SourceConfig
    from mlops_dl.data.sources import load_source
    from mlops_dl.tables import FORMATS

    df = pd.DataFrame({"review": ["great room", "dirty\tcold", "NA"], "stars": ["pos", "neg", "neg"]})
    writers = {"csv": lambda p: df.to_csv(p, index=False),
               "tsv": lambda p: df.to_csv(p, index=False, sep="\t"),
               "jsonl": lambda p: df.to_json(p, orient="records", lines=True),
               "parquet": lambda p: df.to_parquet(p, index=False)}
    for suffix, fmt in FORMATS.items():
        src = tmp_path / f"reviews{suffix}"
        writers[fmt](src)
        loaded = load_source(SourceConfig(kind="file", path=str(src), text_column="review",
                                          label_column="stars"), 0).frame
        assert loaded["text"].tolist() == df["review"].tolist(), suffix
        summary = score_file(predictor, src, tmp_path / f"out{suffix}", text_column="review")
        assert summary.scored == 3 and not summary.malformed, suffix
        assert read(tmp_path / f"out{suffix}")["review"].tolist() == df["review"].tolist(), suffix


def test_empty_texts_follow_the_servers_rule(predictor, tmp_path):
    """One rule (serve.requests.is_blank): what the server refuses with 422, predict reports per row."""
    from mlops_dl.serve.requests import is_blank

    texts = ["fine", "", "  \t", "ok"]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    summary = score_file(predictor, src, tmp_path / "out.jsonl")
    assert [r for r, _ in summary.malformed] == [i + 1 for i, t in enumerate(texts) if is_blank(t)]
