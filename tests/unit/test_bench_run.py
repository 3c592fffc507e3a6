"""`mlops-dl bench`: one run over PyTorch eager and both ONNX variants, attached to the version;
load mode refuses non-loopback targets."""

from __future__ import annotations

import json

import pytest

from mlops_dl.bench.run import ratios, read_texts, run_bench
from mlops_dl.bench.load import loopback
from mlops_dl.cli import main
from mlops_dl.errors import DataError, MlopsError
from tests.unit.serve_helpers import fresh_registry

TINY_OPTS = {"latency_n": 15, "batch": 8, "window": 16, "rounds": 2, "shape_budget_s": 0.05,
             "tune_n": 4}


@pytest.fixture()
def texts_file(tmp_path, tiny_rows):
    names = ["negative", "neutral", "positive"]
    rows = tiny_rows[:40]
    (tmp_path / "t_text.txt").write_text("".join(f"{t} \n" for t, _ in rows))
    (tmp_path / "t_labels.txt").write_text("".join(f"{names.index(y)}\n" for _, y in rows))
    return tmp_path / "t_text.txt"


def test_bench_one_run_all_engines_attached(tiny_registry, tmp_path, texts_file):
    reg = fresh_registry(tiny_registry, tmp_path / "registry", versions=2)
    report = run_bench("tiny:1", registry=reg.root, data=texts_file, limit=0,
                       chart=tmp_path / "bench.png", shapes=[(1, 8), (4, 16)], opts=TINY_OPTS)
    engines = report["engines"]
    assert set(engines) == {"pytorch-eager", "onnx-fp32", "onnx-int8"}
    for e in engines.values():
        assert e["batch1"]["n"] == 15 and e["batch1"]["p50_ms"] > 0
        assert e["stream"]["texts"] == 40 and e["stream"]["sent_per_s"] > 0
        assert e["stream_sorted"]["window"] == 16 and e["stream_sorted"]["sent_per_s"] > 0
        assert abs(e["macro_f1_sorted"] - e["macro_f1"]) < 0.05  # order restored
        assert 0 <= e["macro_f1"] <= 1 and e["peak_rss_mb"] > 0
        assert set(e["shapes"]) == {"b1_t8", "b4_t16"}
    # fp32 ONNX is the same function as PyTorch: same labels on the labelled texts
    assert abs(engines["onnx-fp32"]["macro_f1"] - engines["pytorch-eager"]["macro_f1"]) < 1e-9
    assert len(engines["onnx-int8"]["tuning"]) == 10
    assert report["pytorch_baseline"] == "measured"
    assert report["ratios"]["stream_speedup"] > 0 and "f1_loss_pts" in report["ratios"]
    assert (tmp_path / "bench.png").stat().st_size > 1000
    stored = reg.get("tiny:1").attachment("bench.json")
    assert stored["engines"]["onnx-int8"]["stream"]["sent_per_s"] == \
        engines["onnx-int8"]["stream"]["sent_per_s"]
    from mlops_dl.gates.compare import compare

    rows = compare(reg, "tiny:1", "tiny:2")["bench"]
    assert any("onnx-int8.stream.sent_per_s" in json.dumps(r) for r in rows)


def test_bench_cli_without_torch_and_missing_lineage(tiny_registry, tmp_path, texts_file,
                                                     capsys):
    reg = fresh_registry(tiny_registry, tmp_path / "registry")
    rc = main(["bench", "tiny:1", "--registry", str(reg.root), "--data", str(texts_file),
               "--no-torch", "--no-attach", "--limit", "10", "--json",
               "--chart", str(tmp_path / "c.png")])
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    assert "pytorch-eager" not in report["engines"]
    assert report["pytorch_baseline"] == "skipped (--no-torch)"
    assert reg.get("tiny:1").attachment("bench.json") is None


def test_read_texts_errors(tmp_path):
    (tmp_path / "a_text.txt").write_text("one\ntwo\n")
    (tmp_path / "a_labels.txt").write_text("0\n")
    with pytest.raises(DataError, match="1 labels for 2 texts"):
        read_texts(tmp_path / "a_text.txt", None, ["neg", "pos"], 0)
    (tmp_path / "a_labels.txt").write_text("neg\nmaybe\n")
    with pytest.raises(DataError, match="'maybe' is not one of"):
        read_texts(tmp_path / "a_text.txt", None, ["neg", "pos"], 0)
    with pytest.raises(DataError, match="not found"):
        read_texts(tmp_path / "nope.txt", None, ["neg"], 0)
    import pandas as pd

    pd.DataFrame({"text": ["a", "", "c"], "label": [1, 0, 0]}).to_parquet(tmp_path / "s.parquet")
    assert read_texts(tmp_path / "s.parquet", None, ["neg", "pos"], 0)[:2] == (["a", "c"], [1, 0])
    pd.DataFrame({"body": ["a"]}).to_parquet(tmp_path / "b.parquet")
    with pytest.raises(DataError, match="no 'text' column"):
        read_texts(tmp_path / "b.parquet", None, ["neg"], 0)


def test_ratios_targets():
    def eng(p50, p99, sps, f1):
        return {"batch1": {"p50_ms": p50, "p99_ms": p99}, "stream": {"sent_per_s": sps},
                "stream_sorted": {"sent_per_s": sps}, "macro_f1": f1,
                "shapes": {"b32_t128": {"sent_per_s": sps}}}

    r = ratios({"pytorch-eager": eng(8.0, 9.0, 50, 0.70), "onnx-int8": eng(1.0, 1.2, 400, 0.698),
                "onnx-fp32": eng(2.0, 2.2, 200, 0.70)})
    assert r["best_variant"] == "onnx-int8" and r["stream_speedup"] == 8.0
    assert r["b1_p50_speedup"] == 8.0 and abs(r["f1_loss_pts"] - 0.2) < 1e-9
    assert all(r["met"].values())


@pytest.mark.parametrize("url", ["http://10.0.0.1:8000", "https://127.0.0.1:8000",
                                 "http://example.com", "ftp://localhost"])
def test_load_mode_is_loopback_only(url):
    with pytest.raises(MlopsError, match="loopback"):
        loopback(url)
    assert loopback("http://127.0.0.1:8123") == ("127.0.0.1", 8123)
    assert loopback("http://[::1]:8000") == ("::1", 8000)


def test_measure_in_one_process_assembles_the_same_entry_as_the_round_robin():
    """engines.measure (the Optimum peer's path) and measure_round_robin share engine_figures."""
    import numpy as np

    from mlops_dl.bench.engines import measure

    texts = ["good", "bad movie", "fine", "terrible plot", "great"] * 4
    gold = [0, 1, 0, 1, 0] * 4

    def factory(engine):
        def run(batch):  # (B, L): long texts -> label 1
            return np.array([[0.2, 0.8] if len(t) > 5 else [0.9, 0.1] for t in batch])

        return run, lambda b, t: (lambda: None), {"variant": "fake"}

    opts = {"latency_n": 6, "batch": 4, "window": 8, "shape_budget_s": 0.0, "tune_n": 0}
    r = measure({"label": "fake-engine"}, texts, gold, [(1, 8)], opts, factory=factory)
    assert r["engine"] == "fake-engine" and r["variant"] == "fake" and r["load_s"] >= 0
    assert r["batch1"]["n"] == 6 and r["batch1"]["p50_ms"] <= r["batch1"]["p99_ms"]
    assert r["stream"]["window"] == 0 and r["stream_sorted"]["window"] == 8
    assert r["stream"]["texts"] == len(texts) and r["stream"]["sent_per_s"] > 0
    assert r["macro_f1"] == r["macro_f1_sorted"] == 1.0 and r["accuracy"] == 1.0
    assert set(r["shapes"]) == {"b1_t8"} and "tuning" not in r and r["peak_rss_mb"] > 0
    unlabelled = measure({"label": "x"}, texts, None, [], opts, factory=factory)
    assert "macro_f1" not in unlabelled and "accuracy" not in unlabelled
