"""`mlops-dl pipeline` on the tiny model: the whole cycle, then a rerun that skips every step."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from mlops_dl.cli import main

REPO = Path(__file__).resolve().parents[2]


def _write_config(tmp: Path, model_dir: Path, rows) -> Path:
    csv = tmp / "reviews.csv"
    pd.DataFrame({"body": [t for t, _ in rows], "stars": [y for _, y in rows]}).to_csv(csv, index=False)
    canvas = yaml.safe_load((REPO / "configs" / "quickstart-canvas.yaml").read_text())
    canvas.update(model="tinyq", data_config=str(tmp / "pipeline.yaml"))
    canvas["offline"].update(threshold=0.0, per_class_f1_floor=0.0)
    canvas["latency"].update(p95_ms=10_000.0, measure_texts=20)
    canvas["behaviour"].update(gate=False, max_cases=20)
    (tmp / "canvas.yaml").write_text(yaml.safe_dump(canvas))
    cfg = {
        "data": {"name": "tinyq", "labels": ["negative", "neutral", "positive"],
                 "sources": [{"kind": "file", "path": str(csv), "text_column": "body",
                              "label_column": "stars"}],
                 "output_dir": str(tmp / "data"), "tokenizer": str(model_dir),
                 "split": {"validation_fraction": 0.2, "test_fraction": 0.2}},
        "model": {"name": str(model_dir), "max_length": 32},
        "train": {"runs_dir": str(tmp / "runs"), "accelerator": "cpu", "devices": 1,
                  "lr": 3e-3, "batch_size": 16, "max_steps": 30, "early_stopping_patience": 0,
                  "progress_bar": False},
        "export": {"name": "tinyq", "atol_int8": 5.0, "max_f1_drop": 100.0,
                   "validation_samples": 64},
        "pipeline": {"state_dir": str(tmp / "state"), "bench_limit": 40,
                     "bench_torch_baseline": False, "canvas": str(tmp / "canvas.yaml")},
    }
    path = tmp / "pipeline.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.slow
def test_pipeline_runs_whole_cycle_then_skips_unchanged_steps(tmp_path, tiny_model_dir, tiny_rows,
                                                              monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    cfg = _write_config(tmp_path, tiny_model_dir, tiny_rows)
    reg = str(tmp_path / "registry")
    assert main(["pipeline", "--config", str(cfg), "--registry", reg, "--json"]) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    status = {s["name"]: s["status"] for s in first["steps"]}
    assert status == {"data": "ran", "train": "ran", "evaluate": "ran", "export": "ran",
                      "bench": "ran", "accept": "ran", "promote": "ran"}
    assert first["ref"] == "tinyq:1"
    assert (Path(reg) / "tinyq" / "aliases" / "production").read_text().strip() == "1"

    assert main(["pipeline", "--config", str(cfg), "--registry", reg, "--json"]) == 0
    second = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    status = {s["name"]: s["status"] for s in second["steps"]}
    assert status["data"] == status["train"] == status["evaluate"] == "skipped"
    assert status["export"] == status["bench"] == status["accept"] == "skipped"
    assert second["ref"] == "tinyq:1"

    # A changed train config retrains and registers a new version; data stays skipped.
    assert main(["pipeline", "--config", str(cfg), "--registry", reg, "--json",
                 "--set", "train.max_steps=20"]) == 0
    third = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    status = {s["name"]: s["status"] for s in third["steps"]}
    assert status["data"] == "skipped" and status["train"] == "ran"
    assert third["ref"] == "tinyq:2"


def test_pipeline_unknown_force_step_is_a_clear_error(tmp_path, tiny_model_dir, tiny_rows, capsys):
    cfg = _write_config(tmp_path, tiny_model_dir, tiny_rows)
    assert main(["pipeline", "--config", str(cfg), "--force", "nosuch"]) == 2
    assert "unknown step" in capsys.readouterr().err


@pytest.mark.slow
def test_pipeline_with_search_registers_the_winner_and_keys_the_study(tmp_path, tiny_model_dir,
                                                                      tiny_rows, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    cfg = _write_config(tmp_path, tiny_model_dir, tiny_rows)
    search = ["pipeline.search=true", "pipeline.bench=false", "pipeline.canvas=",
              f"search.study_dir={tmp_path / 'studies'}", "search.study_name=tiny",
              "search.n_trials=2", "search.pruner=none", "search.workers=1",
              "train.val_check_interval=10",
              "search.space={train.lr: {type: categorical, choices: [0.003, 0.00001]}}"]
    args = ["pipeline", "--config", str(cfg), "--registry", str(tmp_path / "registry"), "--json"]
    assert main(args + [x for s in search for x in ("--set", s)]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    steps = {s["name"]: s for s in out["steps"]}
    assert steps["train"]["status"] == "ran" and "winner of tiny-" in steps["train"]["detail"]
    assert out["ref"] == "tinyq:1"
    (study,) = (tmp_path / "studies").iterdir()  # named by the recipe's key
    winner = json.loads((study / "winner.json").read_text())
    lineage = json.loads((tmp_path / "registry" / "tinyq" / "version-1" / "lineage.json").read_text())
    assert Path(winner["run_dir"]).name in json.dumps(lineage)  # the winner is what got registered

    # another recipe: a new study (not the old one's trials resumed), a new version
    more = search + ["train.max_steps=20"]
    assert main(args + [x for s in more for x in ("--set", s)]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {s["name"]: s["status"] for s in out["steps"]}["train"] == "ran"
    assert len(list((tmp_path / "studies").iterdir())) == 2 and out["ref"] == "tinyq:2"
