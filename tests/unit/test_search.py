"""Search end to end on the tiny BERT: trials through train.fit, pruning, failures, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
import sys
import time

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from mlops_dl import config as config_mod
from mlops_dl.cli import main
from mlops_dl.errors import MlopsError
from mlops_dl.search import finish, optimize, run_search
from mlops_dl.search import storage as storage_mod
from mlops_dl.search.space import space_signature
from tests.fixtures.tiny_search import BAD_LR, REPO, lr_space, tiny_search_config

LEARNS = 1e-2  # the tiny BERT leaves chance level at about step 25 with this lr
WARMUP = {"train.warmup_ratio": {"type": "float", "low": 0.0, "high": 0.1}}


@pytest.fixture(autouse=True)
def _one_torch_thread(monkeypatch):
    """The tiny BERT on a shared 2-core machine: 1 thread is ~10x faster than contended 2."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # for the search subprocesses
    yield
    torch.set_num_threads(before)


def _enqueue(cfg, *lrs: float) -> None:
    """Fix the next trials' lr (WAITING trials are what the workers' ask() takes first)."""
    search = cfg.search
    rdb = storage_mod.open_storage(storage_mod.storage_url(search, search.study_name), 5)
    study = storage_mod.open_study(rdb, search.study_name, search, space_signature(search.space), 0)
    for lr in lrs:
        study.enqueue_trial({"train.lr": lr})


def _states(study: optuna.Study) -> list[str]:
    return [t.state.name for t in sorted(study.trials, key=lambda t: t.number)]


def test_search_end_to_end(tmp_path, tiny_model_dir, tiny_rows):
    space = {**lr_space(LEARNS, 3e-3), **WARMUP}
    cfg = tiny_search_config(tmp_path, tiny_model_dir, tiny_rows, space, n_trials=2,
                             pruner="none", keep_trial_runs=True)  # fmt: skip
    run = run_search(cfg)
    done = run.study.get_trials(states=(TrialState.COMPLETE,))
    assert len(done) == 2 and len(run.study.trials) == 2
    for t in done:  # the score is the best validation macro-F1 of the trial, not its last
        logged = pd.read_csv(run.folder / "trials" / f"trial-{t.number:04d}" / "logs" / "metrics.csv")
        assert t.value == pytest.approx(logged["val_macro_f1"].dropna().max(), abs=1e-6)
        assert t.user_attrs["global_step"] == 30 and t.user_attrs["val_checks"] == 3
        kept = run.folder / "trials" / f"trial-{t.number:04d}"  # weights kept, checkpoints not
        assert (kept / "model" / "model.safetensors").is_file()
        assert not (kept / "checkpoints").exists()
    first = min(done, key=lambda t: t.number)  # the base config is the first trial
    assert first.params == {"train.lr": 3e-3, "train.warmup_ratio": 0.1}
    assert first.user_attrs["base_config"] is True
    best = max(done, key=lambda t: t.value)
    # best config: a complete config with the winner's values
    best_cfg = config_mod.load(run.folder / "best_config.yaml")
    assert best_cfg.train.run_name == ""  # a run from it gets its own id
    assert best_cfg.train.lr == best.params["train.lr"]
    assert best_cfg.train.warmup_ratio == best.params["train.warmup_ratio"]
    # the winner: retrained as a normal run dir and evaluated on test
    winner = json.loads((run.folder / "winner.json").read_text())
    assert winner["trial"] == best.number and winner["retrained"] is True
    metrics = json.loads((Path(winner["run_dir"]) / "metrics.json").read_text())
    assert metrics["test"]["macro_f1"] == pytest.approx(winner["test"]["macro_f1"])
    assert (Path(winner["run_dir"]) / "model" / "config.json").is_file()
    # report: csv, plots, summary
    for name in ("trials.csv", "optimization_history.png", "param_importances.png",
                 "parallel_coordinate.png", "intermediate_values.png", "summary.json"):  # fmt: skip
        assert (run.folder / name).stat().st_size > 0, name
    summary = json.loads((run.folder / "summary.json").read_text())
    assert summary["best"]["number"] == best.number and summary["total_steps"] == 60
    assert summary["winner"]["run_dir"] == winner["run_dir"]
    # finishing again reuses the evaluated winner instead of retraining it
    stamp = (Path(winner["run_dir"]) / "metrics.json").stat().st_mtime_ns
    assert finish(run).winner == winner
    assert (Path(winner["run_dir"]) / "metrics.json").stat().st_mtime_ns == stamp


def test_pruning_prunes_the_bad_region(tmp_path, tiny_model_dir, tiny_rows):
    cfg = tiny_search_config(tmp_path, tiny_model_dir, tiny_rows, lr_space(LEARNS, BAD_LR),
                             n_trials=3, pruner="median", prune_startup_trials=2,
                             prune_warmup_checks=0)  # fmt: skip
    cfg = config_mod.replace(cfg, {"train.max_steps": 40})  # checks at steps 10, 20, 30, 40
    _enqueue(cfg, LEARNS, LEARNS, BAD_LR)
    run = optimize(cfg)
    good1, good2, bad = sorted(run.study.trials, key=lambda t: t.number)
    assert _states(run.study) == ["COMPLETE", "COMPLETE", "PRUNED"]
    for t in (good1, good2):
        assert t.user_attrs["global_step"] == 40 and t.value > 0.4
    # stopped early, at the first check where it fell below the median of the good trials
    assert bad.params["train.lr"] == BAD_LR
    assert bad.user_attrs["global_step"] < 40 and bad.user_attrs["pruned_at_check"] < 4
    assert max(bad.intermediate_values.values()) < good1.value
    assert run.summary["states"] == {"complete": 2, "pruned": 1}
    assert run.summary["total_steps"] == 80 + bad.user_attrs["global_step"]
    assert not list((run.folder / "trials").iterdir())  # trial run dirs cleaned up
    # optuna-dashboard reads the study: states, scores, learning curves, our user attrs
    studies = _dashboard_get(run.folder / "study.db", "/api/studies")["study_summaries"]
    (listed,) = [st for st in studies if st["study_name"] == cfg.search.study_name]
    detail = _dashboard_get(run.folder / "study.db", f"/api/studies/{listed['study_id']}")
    shown = {t["number"]: t for t in detail["trials"]}
    assert [shown[n]["state"] for n in range(3)] == ["Complete", "Complete", "Pruned"]
    assert len(shown[2]["intermediate_values"]) == bad.user_attrs["pruned_at_check"]
    assert {a["key"] for a in shown[2]["user_attrs"]} >= {"global_step", "pruned_at_check"}


def _dashboard_get(db, path: str) -> dict:
    """GET ``path`` from optuna-dashboard's WSGI app on the SQLite study ``db``."""
    from wsgiref.util import setup_testing_defaults

    from optuna_dashboard import wsgi

    app = wsgi(f"sqlite:///{db}")
    environ = {"PATH_INFO": path, "REQUEST_METHOD": "GET"}
    setup_testing_defaults(environ)
    status = []
    body = b"".join(app(environ, lambda s, headers, exc=None: status.append(s)))
    assert status[0].startswith("200"), (path, status, body[:300])
    return json.loads(body)


def test_hyperband_steps_over_validation_checks(tmp_path, tiny_model_dir, tiny_rows):
    cfg = tiny_search_config(tmp_path, tiny_model_dir, tiny_rows, lr_space(LEARNS, BAD_LR),
                             n_trials=3, pruner="hyperband")  # fmt: skip
    _enqueue(cfg, LEARNS, BAD_LR, BAD_LR)
    run = optimize(cfg)
    assert len(run.study.trials) == 3 and not run.study.get_trials(states=(TrialState.FAIL,))
    for t in run.study.trials:  # one report per validation check, stepping 1, 2, 3
        assert sorted(t.intermediate_values) == list(range(1, t.user_attrs["val_checks"] + 1))


def test_failing_trial_is_recorded_and_the_study_goes_on(tmp_path, tiny_model_dir, tiny_rows):
    cfg = tiny_search_config(tmp_path, tiny_model_dir, tiny_rows, lr_space(LEARNS, 1e9),
                             n_trials=1, pruner="none", retrain_winner=False)  # fmt: skip
    cfg = config_mod.replace(cfg, {"train.grad_clip": 0.0})  # let lr 1e9 blow the loss up
    _enqueue(cfg, 1e9, LEARNS)
    run = run_search(cfg)
    failed, done = sorted(run.study.trials, key=lambda t: t.number)
    assert failed.state == TrialState.FAIL and done.state == TrialState.COMPLETE
    assert failed.user_attrs["fail_reason"].startswith("NonFiniteLoss: training loss is")
    # not retrained: the winner is the best trial's own run dir, kept and evaluated
    assert run.winner["run_dir"] == str(run.folder / "trials" / "trial-0001")
    assert run.winner["retrained"] is False and "macro_f1" in run.winner["test"]
    assert [p.name for p in (run.folder / "trials").iterdir()] == ["trial-0001"]
    assert not (run.folder / "trials" / "trial-0001" / "checkpoints").exists()


def test_all_trials_failing_stops_with_the_reasons(tmp_path, tiny_model_dir, tiny_rows, capsys):
    space = {"train.precision": {"type": "categorical", "choices": ["16-mixed"]}}  # GPU only
    cfg = tiny_search_config(tmp_path, tiny_model_dir, tiny_rows, space, n_trials=5, max_failures=2)
    run = optimize(cfg)
    assert _states(run.study) == ["FAIL", "FAIL"]  # stopped at max_failures, not looping forever
    with pytest.raises(MlopsError, match="no trial completed.*16-mixed needs a GPU"):
        finish(run)
    path = tmp_path / "fail.yaml"
    config_mod.save(config_mod.replace(cfg, {"search.study_name": "cli-fail"}), path)
    assert main(["search", "--config", str(path)]) != 0
    err = capsys.readouterr().err
    assert "no trial completed" in err and "Traceback" not in err


def _search_cmd(path, *extra) -> list[str]:
    return [sys.executable, "-m", "mlops_dl", "search", "--config", str(path), *extra]


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO), "TOKENIZERS_PARALLELISM": "false"}


def test_killed_search_resumes_and_keeps_finished_trials(tmp_path, tiny_model_dir, tiny_rows):
    cfg = tiny_search_config(tmp_path, tiny_model_dir, tiny_rows, {**lr_space(LEARNS), **WARMUP},
                             n_trials=3, pruner="none")  # fmt: skip
    path = tmp_path / "search.yaml"
    config_mod.save(cfg, path)
    url = storage_mod.storage_url(cfg.search, cfg.search.study_name)
    proc = subprocess.Popen(_search_cmd(path), env=_env(), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        finished = _wait_for_complete(url, cfg.search.study_name, proc, timeout=240)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the search and anything it started
        proc.wait()
    assert finished, "the search finished no trial before the kill"
    time.sleep(5)  # > the 4 s grace period: the killed trial's heartbeat is now stale
    out = subprocess.run(_search_cmd(path, "--json"), env=_env(), capture_output=True,
                         text=True, timeout=600)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    study = optuna.load_study(study_name=cfg.search.study_name, storage=url)
    by_number = {t.number: t for t in study.trials}
    for number, value in finished.items():  # finished trials kept, untouched
        assert by_number[number].state == TrialState.COMPLETE and by_number[number].value == value
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 3
    assert not study.get_trials(states=(TrialState.RUNNING,))  # the killed one ended FAIL
    summary = json.loads(out.stdout)  # --json: nothing but the summary on stdout
    assert summary["winner"] and summary["states"]["complete"] == 3


def _wait_for_complete(url, name, proc, timeout: float) -> dict[int, float]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            study = optuna.load_study(study_name=name, storage=url)
            done = study.get_trials(states=(TrialState.COMPLETE,))
            if done:
                return {t.number: t.value for t in done}
        except KeyError:  # not created yet
            pass
        time.sleep(0.5)
    return {}


def test_a_dead_workers_running_trial_is_failed_and_replaced(tmp_path, tiny_model_dir, tiny_rows):
    cfg = tiny_search_config(tmp_path, tiny_model_dir, tiny_rows, lr_space(LEARNS), n_trials=1,
                             pruner="none")  # fmt: skip
    search = cfg.search
    rdb = storage_mod.open_storage(storage_mod.storage_url(search, search.study_name), 2)
    study = storage_mod.open_study(rdb, search.study_name, search, space_signature(search.space), 0)
    orphan = study.ask()  # as a worker that started a trial and was then killed
    rdb.record_heartbeat(orphan._trial_id)
    started = time.monotonic()
    run = optimize(cfg)  # waits for the orphan (it may still finish), then replaces it
    assert time.monotonic() - started > 4  # it did wait out the 4 s grace period
    assert _states(run.study) == ["FAIL", "COMPLETE"]


def test_workers_run_exactly_n_trials_on_one_study(tmp_path, tiny_model_dir, tiny_rows):
    cfg = tiny_search_config(tmp_path, tiny_model_dir, tiny_rows, {**lr_space(LEARNS), **WARMUP},
                             n_trials=3, pruner="none", workers=2)  # fmt: skip
    run = optimize(cfg)
    numbers = [t.number for t in run.study.trials]
    detail = [(t.number, t.state.name, str(t.datetime_start), t.user_attrs) for t in run.study.trials]
    assert _states(run.study) == ["COMPLETE"] * 3 and sorted(numbers) == [0, 1, 2], detail
    assert run.trials_run == 3  # summed over the two worker processes
