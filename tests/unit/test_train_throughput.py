"""bench-train runs every variant on the same examples and reports the ratios (no timing asserts)."""

from __future__ import annotations

import json

import pytest

from mlops_dl import config as config_mod
from mlops_dl.cli import main
from mlops_dl.train.throughput import VARIANTS, run_bench
from tests.fixtures.tiny_train import tiny_config, write_fixture_prepared


@pytest.fixture(scope="module")
def cfg(tmp_path_factory, tiny_rows, tiny_model_dir):
    root = tmp_path_factory.mktemp("bench")
    write_fixture_prepared(root / "data", tiny_rows)
    return tiny_config(root / "data", tiny_model_dir, root / "runs")


def test_every_variant_is_measured(cfg):
    result = run_bench(cfg, steps=2, warmup=1, batch_size=8, repeats=1)
    assert set(result["variants"]) == set(VARIANTS)
    for v in result["variants"].values():
        assert v["samples_per_s"] > 0 and v["tokens_per_s"] > 0 and len(v["runs_s"]) == 1
    assert {"lightning_overhead_pct", "bf16_speedup_vs_fp32", "dynamic_grouped_vs_pad128"} <= set(result["ratios"])


def test_cli_writes_json_and_checks_bf16_f1(cfg, tmp_path):
    from mlops_dl.train.fitting import fit

    run = fit(config_mod.replace(cfg, {"train.max_steps": 3, "train.runs_dir": str(tmp_path)})).run_dir
    config_mod.save(cfg, tmp_path / "cfg.yaml")
    out = tmp_path / "bench.json"
    argv = ["bench-train", "--config", str(tmp_path / "cfg.yaml"), "--steps", "1", "--warmup", "1",
            "--batch-size", "8", "--repeats", "1", "--f1-model", str(run / "model"), "--out", str(out)]
    assert main(argv) == 0
    result = json.loads(out.read_text())
    assert set(result["bf16_f1"]) == {"fp32", "bf16", "delta_points"}


def test_too_little_data_is_refused(cfg):
    with pytest.raises(ValueError, match="train examples"):
        run_bench(cfg, steps=100, warmup=1, batch_size=64, repeats=1)
