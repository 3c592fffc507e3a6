"""Several workers on one PostgreSQL study: no trial lost or duplicated, one best trial.

Needs PostgreSQL on 127.0.0.1:5432 (trust auth, database ``test``); skipped otherwise.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import optuna
import pytest
from optuna.trial import TrialState

from mlops_dl import config as config_mod
from mlops_dl.search import optimize, report
from tests.fixtures.tiny_search import REPO, lr_space, tiny_search_config

pytestmark = pytest.mark.postgres

SPACE = {**lr_space(1e-2, 3e-3), "train.warmup_ratio": {"type": "float", "low": 0.0, "high": 0.1}}


@pytest.fixture(scope="module")
def pg_url() -> str:
    """A URL of the local PostgreSQL test database (user postgres, else root)."""
    try:
        import psycopg2
    except ImportError:
        pytest.skip("psycopg2 is not installed (pip install 'mlops-dl[train]')")
    errors = []
    for user in ("postgres", "root"):
        try:
            psycopg2.connect(host="127.0.0.1", port=5432, user=user, dbname="test",
                             connect_timeout=3).close()  # fmt: skip
            return f"postgresql+psycopg2://{user}@127.0.0.1:5432/test"
        except psycopg2.OperationalError as e:
            errors.append(f"{user}: {str(e).strip()}")
    pytest.skip("PostgreSQL unreachable at 127.0.0.1:5432 (" + "; ".join(errors) + ")")


@pytest.fixture
def study_name(pg_url):
    """A study name unique to this test run; the study is deleted afterwards."""
    name = f"mlops-dl-test-{uuid.uuid4().hex[:10]}"
    yield name
    try:
        optuna.delete_study(study_name=name, storage=pg_url)
    except KeyError:
        pass


@pytest.fixture(autouse=True)
def _one_torch_thread(monkeypatch):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    yield
    torch.set_num_threads(before)


def _check_exactly(study: optuna.Study, n: int) -> None:
    trials = study.get_trials()
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers)), f"duplicated trial numbers: {numbers}"
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    detail = [(t.number, t.state.name, t.datetime_start and t.datetime_start.time(),
               t.datetime_complete and t.datetime_complete.time(), t.user_attrs.get("worker"),
               t.user_attrs.get("base_config")) for t in trials]  # fmt: skip
    assert len(finished) == n, f"{len(finished)} finished trials, wanted {n}: {detail}"
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert sorted(numbers) == list(range(len(numbers)))  # none lost in between


def test_three_worker_processes_share_one_study(tmp_path, tiny_model_dir, tiny_rows, pg_url, study_name):
    cfg = tiny_search_config(tmp_path, tiny_model_dir, tiny_rows, SPACE, n_trials=5, workers=3,
                             storage=pg_url, study_name=study_name, pruner="none")  # fmt: skip
    run = optimize(cfg)
    _check_exactly(optuna.load_study(study_name=study_name, storage=pg_url), 5)
    assert run.trials_run == 5 and run.summary["states"] == {"complete": 5}


def test_separate_machines_join_by_url(tmp_path, tiny_model_dir, tiny_rows, pg_url, study_name):
    """Three independent ``mlops-dl search --worker-only`` processes (as on three machines)."""
    cfg = tiny_search_config(tmp_path, tiny_model_dir, tiny_rows, SPACE, pruner="median",
                             prune_startup_trials=2)  # fmt: skip
    path = tmp_path / "search.yaml"
    config_mod.save(cfg, path)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "mlops_dl", "search", "--config", str(path), "--storage", pg_url,
             "--study", study_name, "--trials", "6", "--worker-only", "--json",
             "--set", f"search.seed={42 + i}", "--set", f"search.study_dir={tmp_path / f'm{i}'}"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        for i in range(3)
    ]
    views = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
        views.append(json.loads(out))
    study = optuna.load_study(study_name=study_name, storage=pg_url)
    _check_exactly(study, 6)
    # every worker ends when the study is done, so all see the same best trial
    best = {(v["best"]["number"], v["best"]["value"]) for v in views}
    ours = report.best_trial(study)  # ties broken by the lowest trial number
    assert best == {(ours.number, ours.value)} and ours.value == study.best_value
    assert all(v["winner"] is None for v in views)  # --worker-only: no winner retrained
