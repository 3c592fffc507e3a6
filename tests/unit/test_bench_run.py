"""`mlops-dl bench`: one run over PyTorch eager and both ONNX variants, attached to the version;
load mode refuses non-loopback targets."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlops_dl import machine
from mlops_dl.bench.run import ratios, read_texts, run_bench
from mlops_dl.bench.load import loopback
from mlops_dl.cli import main
from mlops_dl.errors import DataError, MlopsError
from tests.unit.serve_helpers import fresh_registry

TINY_OPTS = {"latency_n": 15, "batch": 8, "window": 16, "rounds": 2, "shape_budget_s": 0.05,
             "tune_n": 4, "peak_s": 0.1, "pytorch": ["eager", "bf16"],  # compile: minutes
             "token_budget": 96, "token_max_texts": 256}  # a few token batches per window
OURS = {"onnx-fp32", "onnx-int8-dynamic", "onnx-int8-static", "onnx-int8-nncf", "openvino-fp32",
        "openvino-int8-static", "openvino-int8-nncf"}


@pytest.fixture()
def texts_file(tmp_path, tiny_rows):
    names = ["negative", "neutral", "positive"]
    rows = tiny_rows[:40]
    (tmp_path / "t_text.txt").write_text("".join(f"{t} \n" for t, _ in rows))
    (tmp_path / "t_labels.txt").write_text("".join(f"{names.index(y)}\n" for _, y in rows))
    return tmp_path / "t_text.txt"


def test_bench_one_run_all_engines_attached(tiny_registry, tmp_path, texts_file, monkeypatch):
    import importlib.util

    monkeypatch.setattr("mlops_dl.bench.run.PEER_DIR", tmp_path / "peers")  # ct2's cache
    reg = fresh_registry(tiny_registry, tmp_path / "registry", versions=2)
    report = run_bench("tiny:1", registry=reg.root, data=texts_file, limit=0,
                       chart=tmp_path / "bench.png", shapes=[(1, 8), (4, 16)], opts=TINY_OPTS)
    engines = {k: v for k, v in report["engines"].items() if "skipped" not in v}
    ours = OURS | ({"openvino-bf16"} if machine.cpu_has_bf16() else set())
    assert set(engines) >= {"pytorch-eager"} | ours
    if importlib.util.find_spec("ctranslate2"):  # the CTranslate2 peer: a row, not one of ours
        assert engines["ct2-int8"]["runtime"] == "ctranslate2"
        assert (tmp_path / "peers" / "ct2-tiny-1" / "int8" / "model.bin").is_file()
        assert report["ratios"]["best_ct2"] == "ct2-int8" and report["ratios"]["ct2_vs_ours"] > 0
        assert abs(engines["ct2-int8"]["macro_f1"] - engines["onnx-fp32"]["macro_f1"]) < 0.05
    else:
        assert "not installed" in report["engines"]["ct2-int8"]["skipped"]
    tokens_plan = {k: v for k, v in engines["pytorch-eager"]["stream_tokens"].items()
                   if k not in ("seconds", "sent_per_s")}
    assert tokens_plan["texts"] == 40 and tokens_plan["token_budget"] == 96
    assert 40 / 16 < tokens_plan["batches"] < 40  # several texts per batch, within windows
    assert tokens_plan["padded_tokens"] >= tokens_plan["tokens"] == report["data"]["tokens"]
    if not machine.cpu_has_bf16():  # no bf16 hardware: reported as skipped, with why
        assert "amx_bf16" in report["engines"]["pytorch-bf16"]["skipped"]
    hw = report["hardware"]
    assert hw["fingerprint"] == machine.fingerprint() and hw["cpu_flags"] == machine.cpu_flags()
    assert report["peaks"]["fp32"] > 0 and report["peaks"]["int8"] > 0
    for e in engines.values():
        assert e["batch1"]["n"] == 15 and e["batch1"]["p50_ms"] > 0
        assert e["stream"]["texts"] == 40 and e["stream"]["sent_per_s"] > 0
        assert e["stream_sorted"]["window"] == 16 and e["stream_sorted"]["sent_per_s"] > 0
        assert abs(e["macro_f1_sorted"] - e["macro_f1"]) < 0.05  # order restored
        assert abs(e["macro_f1_tokens"] - e["macro_f1"]) < 0.05
        planned = e["stream_tokens"]  # the same token batches for every engine
        assert planned == {**tokens_plan, "seconds": planned["seconds"],
                           "sent_per_s": planned["sent_per_s"]} and planned["sent_per_s"] > 0
        assert 0 <= e["macro_f1"] <= 1 and e["peak_rss_mb"] > 0
        assert set(e["shapes"]) == {"b1_t8", "b4_t16"}
        assert 0 < e["peak"]["stream_fraction"] <= 1.0 and e["compute"] in ("fp32", "bf16", "int8")
        assert e["peak"]["b32_t128_fraction"] <= 1.0 + 1e-9 if "b32_t128_fraction" in e["peak"] else True
    # fp32 ONNX is the same function as PyTorch: same labels on the labelled texts
    assert abs(engines["onnx-fp32"]["macro_f1"] - engines["pytorch-eager"]["macro_f1"]) < 1e-9
    assert engines["onnx-fp32"]["macro_f1_tokens"] == engines["pytorch-eager"]["macro_f1_tokens"]
    assert len(engines["onnx-int8-static"]["tuning"]) == 10
    assert engines["onnx-int8-dynamic"]["batch_invariant"] is False
    assert engines["openvino-fp32"]["precision"] == "fp32"  # fp32 computes in fp32 everywhere
    assert report["pytorch_baseline"] == "measured"
    r = report["ratios"]
    assert r["policy"] == "stream_tokens" and r["stream_speedup_sorted"] > 0
    assert r["stream_speedup"] > 0 and "f1_loss_pts" in r and r["best_variant"] in ours
    assert r["best_pytorch"].startswith("pytorch-") and r["stream_speedup_vs_best_pytorch"] > 0
    assert (tmp_path / "bench.png").stat().st_size > 1000
    rec = report["recommendation"]  # auto's rule on these figures: no acceptance yet
    assert rec["accepted_only"] is False
    served, scored = rec["serve"], rec["predict"]
    rates = {k: f["texts_per_s"] for k, f in scored["figures"].items()}
    assert rates[scored["servable"]] == max(rates.values())  # predict: the most texts/s
    tails = {k: f["p99_ms"] for k, f in served["figures"].items()}
    assert tails[served["servable"]] <= 1.1 * min(tails.values())  # serve: the steadiest tail
    assert "onnxruntime:int8-dynamic" not in rates
    stored = reg.get("tiny:1").attachment("bench.json")
    assert stored["engines"]["onnx-int8-static"]["stream"]["sent_per_s"] == \
        engines["onnx-int8-static"]["stream"]["sent_per_s"]
    from mlops_dl.gates.compare import compare

    rows = compare(reg, "tiny:1", "tiny:2")["bench"]
    assert any("onnx-int8-static.stream.sent_per_s" in json.dumps(r) for r in rows)


def test_bench_cli_without_torch_and_missing_lineage(tiny_registry, tmp_path, texts_file,
                                                     capsys):
    reg = fresh_registry(tiny_registry, tmp_path / "registry")
    rc = main(["bench", "tiny:1", "--registry", str(reg.root), "--data", str(texts_file),
               "--engine", "onnxruntime",
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

    r = ratios({"pytorch-eager": eng(8.0, 9.0, 50, 0.70),
                "onnx-int8-static": eng(1.0, 1.2, 400, 0.698),
                "onnx-fp32": eng(2.0, 2.2, 200, 0.70)})
    assert r["best_variant"] == "onnx-int8-static" and r["stream_speedup"] == 8.0
    assert r["b1_p50_speedup"] == 8.0 and abs(r["f1_loss_pts"] - 0.2) < 1e-9
    assert all(r["met"].values())
    # the tail target judges the servable `serve` chooses, not the stream's best
    jittery = {"pytorch-eager": eng(8.0, 9.0, 50, 0.70), "onnx-int8-static": eng(1.0, 1.2, 400, 0.7),
               "openvino-int8-nncf": eng(1.0, 9.0, 500, 0.7)}
    r = ratios(jittery, served="onnx-int8-static")
    assert r["best_variant"] == "openvino-int8-nncf" and r["p99_over_p50"] == 9.0
    assert r["served_p99_over_p50"] == 1.2 and r["met"]["p99_over_p50"]
    assert not ratios(jittery, served="openvino-int8-nncf")["met"]["p99_over_p50"]
    assert ratios(jittery)["stream_speedup_vs_best_pytorch"] == 10.0  # 2.5x target: met


def test_headline_ratio_compares_the_same_batching_policy():
    """(e) ours / best PyTorch: length-sorted on both sides (in order beside); a servable
    whose labels vary with the batch does not compete for the headline."""
    def eng(in_order, sorted_, **extra):
        return {"batch1": {"p50_ms": 2.0, "p99_ms": 2.5}, "stream": {"sent_per_s": in_order},
                "stream_sorted": {"sent_per_s": sorted_}, **extra}

    r = ratios({"pytorch-eager": eng(100, 150), "pytorch-bf16": eng(200, 450),
                "openvino-int8-nncf": eng(500, 874),
                "onnx-int8-dynamic": eng(900, 2000, batch_invariant=False)})
    assert r["best_variant"] == "openvino-int8-nncf" and r["best_pytorch"] == "pytorch-bf16"
    assert r["stream_speedup_vs_best_pytorch"] == pytest.approx(874 / 450)  # not 874 / 200
    assert r["stream_speedup_vs_best_pytorch_in_order"] == pytest.approx(500 / 200)
    assert r["stream_speedup"] == pytest.approx(874 / 150)


def test_headline_uses_token_batches_when_both_sides_measured_them():
    def eng(in_order, sorted_, tokens=None, **extra):
        out = {"batch1": {"p50_ms": 2.0, "p99_ms": 2.5}, "stream": {"sent_per_s": in_order},
               "stream_sorted": {"sent_per_s": sorted_}, **extra}
        return {**out, "stream_tokens": {"sent_per_s": tokens}} if tokens else out

    r = ratios({"pytorch-eager": eng(100, 150, 160), "pytorch-compile": eng(120, 170, 200),
                "onnx-int8-static": eng(300, 400, 600), "openvino-int8-nncf": eng(350, 500, 550)})
    assert r["policy"] == "stream_tokens" and "token-budget" in r["policy_note"]
    assert r["best_variant"] == "onnx-int8-static"  # best under the headline policy
    assert r["stream_speedup"] == pytest.approx(600 / 160)
    assert r["stream_speedup_vs_best_pytorch"] == pytest.approx(600 / 200)
    assert r["stream_speedup_sorted"] == pytest.approx(400 / 150)  # beside
    assert r["stream_speedup_vs_best_pytorch_sorted"] == pytest.approx(500 / 170)
    assert r["stream_speedup_vs_best_pytorch_in_order"] == pytest.approx(350 / 120)
    r = ratios({"pytorch-eager": eng(100, 150), "onnx-int8-static": eng(300, 400, 600)})
    assert r["policy"] == "stream_sorted" and "stream_speedup_tokens" not in r  # one side only


def test_bench_engine_runs_a_planned_batch_as_one_batch(tiny_registry, monkeypatch):
    """Our engine's run(texts) is one inference batch, whatever the serve budgets say."""
    from mlops_dl.bench.engines import _ort_engine
    from mlops_dl.registry import open_registry
    from mlops_dl.runtime import Predictor

    calls = []
    real = Predictor._run
    monkeypatch.setattr(Predictor, "_run", lambda self, feeds: calls.append(
        feeds["input_ids"].shape) or real(self, feeds))
    mv = open_registry(tiny_registry).get("tiny:1")
    run, _, info = _ort_engine({"model_version": mv, "provider": "cpu", "variant": "fp32",
                                "settings": {"max_batch_tokens": 16, "max_batch_texts": 2}})
    texts = ["love it", "the meeting is at noon " * 9, "hate", "fine weather today"] * 3
    assert run(texts).shape == (12, 3) and len(calls) == 1 and calls[0][0] == 12


def test_no_share_of_peak_exceeds_one():
    """(e) the peak of a compute type is the best rate any engine reached in the run: a whole
    model above the GEMM microbenchmark raises it (and says so), so every share is <= 1."""
    from mlops_dl.bench.peaks import flops_per_text
    from mlops_dl.bench.run import shares_of_peak

    arch = {"layers": 6, "hidden": 384, "intermediate": 1536, "heads": 12}
    b32 = 32 * flops_per_text(arch, 128) / 1e9  # GFLOP in one b32 x s128 batch
    peaks = {"fp32": 300.0, "int8": 500.0, "bf16": None, "source": {"fp32": "gemm:numpy",
                                                                  "int8": "gemm:onnxruntime"}}

    def eng(compute, gops):
        return {"compute": compute, "shapes": {"b32_t128": {"ms": 1000 * b32 / gops}},
                "stream_sorted": {"seconds": 1.0, "sent_per_s": 100}}

    results = {"onnx-int8-static": eng("int8", 400.0), "openvino-int8-nncf": eng("int8", 580.0),
               "onnx-fp32": eng("fp32", 250.0)}
    shares_of_peak(results, peaks, arch, [20] * 100)
    assert peaks["int8"] == pytest.approx(580.0)
    assert peaks["source"]["int8"] == "model:openvino-int8-nncf b32x128"
    for r in results.values():
        assert 0 < r["peak"]["b32_t128_fraction"] <= 1.0 + 1e-9
        assert 0 < r["peak"]["stream_fraction"] <= 1.0


@pytest.mark.parametrize("url", ["http://10.0.0.1:8000", "https://127.0.0.1:8000",
                                 "http://example.com", "ftp://localhost"])
def test_load_mode_is_loopback_only(url):
    with pytest.raises(MlopsError, match="loopback"):
        loopback(url)
    assert loopback("http://127.0.0.1:8123") == ("127.0.0.1", 8123)
    assert loopback("http://[::1]:8000") == ("::1", 8000)


def two_class_version(tiny_registry, tmp_path, data_dir=None):
    """A genuine 2-class version: tiny:1's graphs cut to (negative, positive), its own prepared
    data with only those labels, and a lineage.json that points there (no PyTorch run)."""
    import shutil

    import onnx
    import pandas as pd
    from onnx import helper, numpy_helper

    from mlops_dl.data.prepared import fingerprint, write_prepared
    from mlops_dl.registry import open_registry
    src = open_registry(tiny_registry).get("tiny:1")
    bundle = tmp_path / "bundle"
    bundle.mkdir(parents=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (src.path / name).is_file():
            shutil.copyfile(src.path / name, bundle / name)
    for name in ("model.onnx", "model.plain.onnx"):
        model = onnx.load(str(src.path / name))
        for node in model.graph.node:
            node.output[:] = ["logits3" if o == "logits" else o for o in node.output]
        model.graph.initializer.append(numpy_helper.from_array(np.array([0, 2]), "keep"))
        model.graph.node.append(helper.make_node("Gather", ["logits3", "keep"], ["logits"],
                                                 axis=1))
        model.graph.output[0].type.tensor_type.shape.dim[1].dim_value = 2
        onnx.save(model, str(bundle / name))
    rows = [(t, y) for t, y in json_rows(src) if y != "neutral"]
    frame = pd.DataFrame({"text": [t for t, _ in rows],
                          "label": [0 if y == "negative" else 1 for _, y in rows]})
    frames = {"train": frame[:10], "validation": frame[10:20], "test": frame[20:]}
    frames = {k: v.reset_index(drop=True) for k, v in frames.items()}
    card = {"name": "two", "labels": ["negative", "positive"],
            "counts": {k: len(v) for k, v in frames.items()},
            "fingerprints": {k: fingerprint(v) for k, v in frames.items()}}
    data_dir = data_dir or write_prepared(tmp_path / "data" / "two", frames, card, plots={})
    meta = {**src.meta, "labels": ["negative", "positive"], "variants": {"fp32": "model.onnx"},
            "openvino": {"fp32": "model.plain.onnx"}}
    meta.pop("created", None)
    (bundle / "model.json").write_text(json.dumps(meta))
    (bundle / "lineage.json").write_text(json.dumps({"data_dir": str(data_dir)}))
    reg = open_registry(tmp_path / "registry")
    return reg, reg.register("two", bundle)


def json_rows(mv):
    rows = [json.loads(x) for x in (mv.path / "eval_samples.jsonl").read_text().splitlines()]
    return [(r["text"], r["label"]) for r in rows]


def test_bench_two_class_model_defaults_to_its_frozen_test_split(tiny_registry, tmp_path):
    reg, mv = two_class_version(tiny_registry, tmp_path)
    report = run_bench(mv.ref, registry=reg.root, limit=0, attach=False,
                       chart=tmp_path / "c.png", shapes=[(1, 8)],
                       opts={**TINY_OPTS, "rounds": 1, "latency_n": 5})
    assert report["data"]["source"].endswith("two/test (frozen test split)")
    engines = {k: v for k, v in report["engines"].items() if "skipped" not in v}
    assert set(engines) >= {"onnx-fp32"} and report["pytorch_baseline"].startswith("unavailable")
    for e in engines.values():
        assert 0 <= e["macro_f1"] <= 1 and e["stream"]["texts"] == report["data"]["texts"]


def test_bench_refuses_labels_the_model_lacks_before_any_work(tiny_registry, tmp_path,
                                                              texts_file, monkeypatch):
    import mlops_dl.bench.rounds as rounds

    reg, mv = two_class_version(tiny_registry, tmp_path)
    monkeypatch.setattr(rounds, "measure_round_robin", lambda *a, **k: pytest.fail("measured"))
    with pytest.raises(DataError, match="label id 2 but the model has 2 labels"):
        run_bench(mv.ref, registry=reg.root, data=texts_file, limit=0, attach=False)
    # a 2-class version whose lineage points at 3-class data: refused by name, before work
    from mlops_dl.registry import open_registry
    three = json.loads((open_registry(tiny_registry).get("tiny:1").path / "lineage.json").read_text())
    reg2, mv2 = two_class_version(tiny_registry, tmp_path / "b", data_dir=three["data_dir"])
    with pytest.raises(MlopsError, match=r"data labels \['neutral'\] are not labels of two:1"):
        run_bench(mv2.ref, registry=reg2.root, limit=0, attach=False)
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

    opts = {"latency_n": 6, "batch": 4, "window": 8, "shape_budget_s": 0.0, "tune_n": 0,
            "token_budget": 12, "token_max_texts": 256}
    tokens = [len(t.split()) + 2 for t in texts]
    r = measure({"label": "fake-engine"}, texts, gold, [(1, 8)], opts, factory=factory,
                tokens=tokens)
    assert r["stream_tokens"]["batches"] == 8 and r["macro_f1_tokens"] == 1.0  # 3 + 3 + 2
    assert r["engine"] == "fake-engine" and r["variant"] == "fake" and r["load_s"] >= 0
    assert r["batch1"]["n"] == 6 and r["batch1"]["p50_ms"] <= r["batch1"]["p99_ms"]
    assert r["stream"]["window"] == 0 and r["stream_sorted"]["window"] == 8
    assert r["stream"]["texts"] == len(texts) and r["stream"]["sent_per_s"] > 0
    assert r["macro_f1"] == r["macro_f1_sorted"] == 1.0 and r["accuracy"] == 1.0
    assert set(r["shapes"]) == {"b1_t8"} and "tuning" not in r and r["peak_rss_mb"] > 0
    unlabelled = measure({"label": "x"}, texts, None, [], opts, factory=factory)
    assert "macro_f1" not in unlabelled and "accuracy" not in unlabelled
