"""Latency-aware `auto`: `serve` picks the steadiest batch-1 tail within the canvas's budget,
`predict` the most texts/s, both from the stored bench of this machine, else a calibration;
/readyz and the bench report say which criterion chose."""

from __future__ import annotations

import pytest

from mlops_dl import machine
from mlops_dl.runtime import auto, criteria, from_registry
from tests.unit.serve_helpers import fresh_registry
from tests.unit.test_openvino import bench_doc

FAST = "onnxruntime:int8-static"  # fast but jittery: most texts/s, a batch-1 tail 12x its p50
STEADY = "onnxruntime:fp32"  # slower, steady: p99/p50 1.1
TAILS = {FAST: (1.0, 12.0), STEADY: (2.0, 2.2)}
RATES = {FAST: 900.0, STEADY: 300.0}


def figures(**rows) -> dict:
    return {k: {"texts_per_s": r, "p50_ms": p50, "p95_ms": p95, "p99_ms": p99}
            for k, (r, p50, p95, p99) in rows.items()}


def test_rank_latency_vs_throughput():
    f = figures(fast=(900, 1.0, 5.0, 12.0), steady=(300, 2.0, 2.1, 2.2))
    assert criteria.rank(f, "throughput")[0] == "fast"
    best, why = criteria.rank(f, "latency")
    assert best == "steady" and "lowest batch-1 p99" in why and "no latency budget" in why


def test_rank_latency_ties_go_to_throughput_and_the_budget_comes_first():
    f = figures(a=(500, 1.0, 1.9, 2.0), b=(800, 1.1, 2.0, 2.15), c=(100, 9.0, 30.0, 1.5))
    # c has the lowest p99 but its p95 breaks the 10 ms budget: a and b are within it, and
    # b's p99 is within 10 % of a's, so b wins on texts/s
    best, why = criteria.rank(f, "latency", budget_ms=10)
    assert best == "b" and "2 of 3 within the 10 ms p95 budget" in why
    assert criteria.rank(f, "latency")[0] == "c"  # no budget: the lowest tail
    best, why = criteria.rank(f, "latency", budget_ms=0.5)  # nobody fits: lowest tail, said
    assert best == "c" and "none within the 0.5 ms" in why
    with pytest.raises(ValueError, match="purpose 'fastest'"):
        criteria.rank(f, "fastest")


@pytest.fixture()
def reg(tiny_registry, tmp_path):
    reg = fresh_registry(tiny_registry, tmp_path / "registry")
    doc = bench_doc(machine.fingerprint(), ("none", "none"), RATES, TAILS)
    reg.attach("tiny:1", "bench.json", doc)
    return reg


def test_serve_picks_the_steady_servable_predict_the_fast_one(reg):
    served = from_registry("tiny:1", reg, "cpu", "auto", engine="onnxruntime", purpose="latency")
    scored = from_registry("tiny:1", reg, "cpu", "auto", engine="onnxruntime")
    assert served.servable.key == STEADY and scored.servable.key == FAST
    assert served.choice["source"] == scored.choice["source"] == "bench.json"
    assert served.choice["purpose"] == "latency" and "p99 2.20 ms" in served.choice["reason"]
    assert scored.choice["purpose"] == "throughput" and "900 texts/s" in scored.choice["reason"]
    # the same labels either way: both are batch-invariant servables of one version
    texts = ["love it", "hate it so much", "meh"]
    assert [r["label"] for r in served.predict(texts)] == [r["label"] for r in scored.predict(texts)]


def test_a_bench_without_batch1_figures_is_calibrated_for_serving(reg, monkeypatch):
    doc = reg.get("tiny:1").attachment("bench.json")
    for e in doc["engines"].values():
        e.pop("batch1")
    reg.attach("tiny:1", "bench.json", doc)
    monkeypatch.setattr(auto, "CALIBRATION_S", 0.3)
    served = from_registry("tiny:1", reg, "cpu", "auto", engine="onnxruntime", purpose="latency")
    assert served.choice["source"] == "calibration"
    assert all(f["p99_ms"] >= f["p50_ms"] > 0 for f in served.choice["figures"].values())
    scored = from_registry("tiny:1", reg, "cpu", "auto", engine="onnxruntime")
    assert scored.choice["source"] == "bench.json" and scored.servable.key == FAST


def test_readyz_says_serve_chose_by_the_tail(reg):
    from fastapi.testclient import TestClient

    from mlops_dl.config import ServeConfig
    from mlops_dl.serve.app import create_app
    from tests.unit.test_serve_app import wait_ready

    cfg = ServeConfig(log_path="", swap_poll_s=0.05, engine="onnxruntime", variant="auto",
                      latency_budget_ms=5.0)
    with TestClient(create_app(cfg, "tiny@production", registry=str(reg.root))) as client:
        wait_ready(client)
        choice = client.get("/readyz").json()["model"]["choice"]
    assert choice["servable"] == STEADY and choice["purpose"] == "latency"
    assert choice["budget_ms"] == 5.0 and "within the 5 ms p95 budget" in choice["criterion"]


def test_the_bench_report_says_what_serve_and_predict_would_choose(reg):
    from mlops_dl.bench.recommend import recommend

    mv = reg.get("tiny:1")
    rec = recommend(mv, mv.attachment("bench.json"), budget_ms=50)
    assert rec["serve"]["servable"] == STEADY  # the others' default p99 is 3 ms
    keys = set(rec["predict"]["figures"])
    assert FAST in keys and STEADY in keys
    assert rec["predict"]["servable"] == FAST and "most texts/s" in rec["predict"]["why"]
    tails = {k: f["p99_ms"] for k, f in rec["serve"]["figures"].items()}
    assert tails[rec["serve"]["servable"]] == min(tails.values())
    assert "lowest batch-1 p99" in rec["serve"]["why"] and "50 ms p95 budget" in rec["serve"]["why"]


def test_serve_takes_the_latency_budget_from_the_canvas(reg, tmp_path, monkeypatch, capsys):
    """serve.latency_budget_ms 0 + auto: the canvas's latency.p95_ms (the one canvas rule);
    no canvas: no budget, said in one line; a budget given, or no auto: the canvas is not read."""
    from mlops_dl.cli.serve import with_latency_budget
    from mlops_dl.config import ServeConfig
    from tests.unit.monitor_helpers import canvas_file
    from tests.unit.test_accept import _with_canvas

    monkeypatch.chdir(tmp_path)  # no project default here
    own = canvas_file(tmp_path, latency={"p95_ms": 25})
    named = reg.get(_with_canvas(reg, tmp_path, "named", str(own)))
    unnamed = reg.get(_with_canvas(reg, tmp_path, "unnamed", ""))
    auto_cfg = ServeConfig(engine="auto", variant="auto")
    assert with_latency_budget(auto_cfg, named).latency_budget_ms == 25
    assert "within the canvas's 25 ms batch-1 p95 budget" in capsys.readouterr().out
    assert with_latency_budget(auto_cfg, unnamed).latency_budget_ms == 0
    assert "auto: no latency budget (no canvas found" in capsys.readouterr().out
    given = ServeConfig(engine="auto", variant="auto", latency_budget_ms=7)
    assert with_latency_budget(given, named).latency_budget_ms == 7
    assert with_latency_budget(ServeConfig(), named).latency_budget_ms == 0  # no auto
    assert capsys.readouterr().out == ""


def test_a_bad_latency_budget_names_the_key():
    from mlops_dl.config import ServeConfig
    from mlops_dl.config.coerce import RangeError

    with pytest.raises(RangeError, match=r"latency_budget_ms: must be >= 0 \(0 = the canvas's\)"):
        ServeConfig(latency_budget_ms=-1)


def test_the_bench_report_says_why_nothing_would_be_chosen(reg):
    """A report measured elsewhere: no figures for this machine; nothing accepted: the
    resolver's own error, for serve and predict alike."""
    from mlops_dl.bench.recommend import recommend
    from mlops_dl.registry import acceptance

    mv = reg.get("tiny:1")
    other = {**mv.attachment("bench.json"), "hardware": {"fingerprint": "another-machine"}}
    rec = recommend(mv, other)
    for command in ("serve", "predict"):
        assert rec[command] == {"servable": None, "why": "not every candidate was measured"}
    rejected = {"schema": acceptance.SCHEMA,
                "servables": {k: {"passed": False} for k in (FAST, STEADY)}}
    reg.attach("tiny:1", "acceptance.json", rejected)
    mv = reg.get("tiny:1")
    rec = recommend(mv, mv.attachment("bench.json"))
    for command in ("serve", "predict"):
        assert rec[command]["servable"] is None
        assert "nothing to serve" in rec[command]["why"] and "mlops-dl accept" in rec[command]["why"]
