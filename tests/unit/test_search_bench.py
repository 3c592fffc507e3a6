"""The pruning benchmark's figures and replay, on studies with known learning curves."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from mlops_dl.search import bench

ROOT = Path(__file__).resolve().parents[2]
LR = {"train.lr": FloatDistribution(1e-5, 1e-3, log=True)}


def _add(study, lr, curve, state=TrialState.COMPLETE, steps=None):
    """A trial with validation checks 1..n at ``curve`` (best-so-far values) and 100 steps/check."""
    study.add_trial(create_trial(
        params={"train.lr": lr}, distributions=LR, state=state,
        value=max(curve) if state == TrialState.COMPLETE else None,
        intermediate_values=dict(enumerate(curve, start=1)),
        user_attrs={"global_step": steps if steps is not None else 100 * len(curve)},
    ))  # fmt: skip


@pytest.fixture()
def full_study():
    study = optuna.create_study(direction="maximize")
    _add(study, 1e-4, [0.50, 0.60, 0.65, 0.70])  # 0
    _add(study, 2e-4, [0.52, 0.62, 0.66, 0.72])  # 1: the winner
    _add(study, 1e-5, [0.30, 0.35, 0.40, 0.45])  # 2: a bad region, behind at every check
    _add(study, 5e-5, [0.45, 0.55, 0.63, 0.69])  # 3
    _add(study, 3e-4, [0.55, 0.64, 0.68, 0.71])  # 4
    return study


def test_study_figures_count_finished_steps_and_keep_failed_apart(full_study):
    _add(full_study, 1e-3, [0.2], state=TrialState.PRUNED, steps=100)
    _add(full_study, 1e-3, [0.2], state=TrialState.FAIL, steps=40)
    f = bench.study_figures(full_study)
    assert (f.finished, f.pruned, f.failed) == (6, 1, 1)
    assert f.steps == 5 * 400 + 100 and f.failed_steps == 40
    assert f.best_number == 1 and f.best_value == pytest.approx(0.72)


def test_replay_cuts_the_bad_trial_and_keeps_the_winner(full_study):
    pruner = optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=2)
    r = bench.replay(full_study, pruner, steps_per_check=100)
    assert r.pruned_at[0] is None and r.pruned_at[1] is None  # the startup trials run out
    assert r.pruned_at[2] == 2  # below the median at check 2, the first check after warm-up
    assert r.steps[2] == 200 and r.full_steps == 5 * 400
    assert r.total_steps < r.full_steps and r.step_ratio == r.total_steps / r.full_steps
    assert r.keeps_winner and r.best_number == 1 and r.best_value == pytest.approx(0.72)


def test_replay_without_a_pruner_changes_nothing(full_study):
    r = bench.replay(full_study, optuna.pruners.NopPruner(), steps_per_check=100)
    assert all(c is None for c in r.pruned_at.values())
    assert r.total_steps == r.full_steps and r.step_ratio == 1.0


def test_replay_can_show_a_pruner_that_cuts_the_winner():
    study = optuna.create_study(direction="maximize")
    _add(study, 1e-4, [0.60, 0.62, 0.63, 0.64])
    _add(study, 2e-4, [0.61, 0.63, 0.64, 0.65])
    _add(study, 1e-5, [0.40, 0.55, 0.66, 0.75])  # slow starter, best at the end
    r = bench.replay(study, optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1), 50)
    assert r.pruned_at[2] == 1 and r.steps[2] == 50
    assert not r.keeps_winner and r.best_value == pytest.approx(0.65)


def test_replay_rejects_a_zero_interval(full_study):
    with pytest.raises(ValueError, match="steps_per_check"):
        bench.replay(full_study, optuna.pruners.NopPruner(), 0)


def _study_folder(tmp_path: Path, name: str, pruner: str, curves: list[list[float]],
                  interval: float = 100) -> Path:
    """A study folder as ``mlops-dl search`` leaves it: study.db, base_config.yaml, winner.json."""
    from mlops_dl import config as config_mod

    folder = tmp_path / name
    folder.mkdir()
    cfg = config_mod.from_dict({
        "data": {"name": "d", "labels": ["neg", "pos"],
                 "sources": [{"kind": "file", "path": "x.csv"}]},
        "model": {"name": "m"}, "train": {"val_check_interval": interval},
        "search": {"pruner": pruner, "study_name": name},
    })  # fmt: skip
    config_mod.save(cfg, folder / "base_config.yaml")
    study = optuna.create_study(study_name=name, direction="maximize",
                                storage=f"sqlite:///{folder / 'study.db'}")  # fmt: skip
    for i, curve in enumerate(curves):
        _add(study, 1e-5 * (i + 1), curve)
    (folder / "winner.json").write_text(json.dumps({"test": {"macro_f1": max(curves[0])}}))
    return folder


def test_script_compares_two_study_folders(tmp_path):
    curves = [[0.5, 0.6, 0.7], [0.52, 0.62, 0.72], [0.3, 0.35, 0.4], [0.55, 0.6, 0.71]]
    full = _study_folder(tmp_path, "full", "none", curves)
    pruned = _study_folder(tmp_path, "pruned", "median", curves[:2])
    run = tmp_path / "default-run"
    run.mkdir()
    (run / "metrics.json").write_text(json.dumps({"test": {"macro_f1": 0.6}}))
    cmd = [sys.executable, str(ROOT / "scripts" / "search_bench.py"), "--pruned", str(pruned),
           "--full", str(full), "--default-run", str(run), "--json"]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
    data = json.loads(out.stdout)
    assert data["full"]["steps"] == 4 * 300 and data["pruned"]["steps"] == 2 * 300
    assert data["targets"]["step_ratio"] == pytest.approx(0.5)
    assert data["targets"]["best_f1_gap_pts"] == pytest.approx(0.0)
    assert data["targets"]["pruning_met"] is True
    assert data["targets"]["search_gain_pts"] == pytest.approx(10.0)
    assert len(data["replays"]) == 4 and data["replays"][0]["full_steps"] == 1200


def test_script_names_a_folder_without_a_study(tmp_path):
    cmd = [sys.executable, str(ROOT / "scripts" / "search_bench.py"), "--pruned", str(tmp_path),
           "--full", str(tmp_path)]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 2 and "study.db" in out.stderr and "Traceback" not in out.stderr


def test_trials_table_says_why_a_trial_stopped(full_study):
    from rich.console import Console

    from mlops_dl.search.report import trials_table

    _add(full_study, 1e-3, [0.2, 0.3], state=TrialState.PRUNED, steps=200)
    _add(full_study, 1e-3, [0.2], state=TrialState.FAIL, steps=0)  # a killed worker's trial
    console = Console(record=True, width=200)
    console.print(trials_table(full_study))
    text = console.export_text()
    assert "cut at check 2" in text and "worker died (no heartbeat)" in text
    header = next(line for line in text.splitlines() if "state" in line)
    assert " lr " in header and "train.lr" not in header  # the section prefix is dropped


def test_script_needs_checks_in_steps_to_replay(tmp_path):
    full = _study_folder(tmp_path, "full", "none", [[0.5, 0.6]], interval=0.5)  # half epochs
    pruned = _study_folder(tmp_path, "pruned", "median", [[0.5, 0.6]])
    cmd = [sys.executable, str(ROOT / "scripts" / "search_bench.py"), "--pruned", str(pruned),
           "--full", str(full)]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "val_check_interval" in out.stderr and "0.5" in out.stderr
