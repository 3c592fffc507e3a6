"""Where a study lives: the storage URL, the RDB storage with heartbeats, the study lock,
the sampler and the pruner.

The default storage is one SQLite file per study (``<study_dir>/<study>/study.db``); any
Optuna RDB URL (PostgreSQL, MySQL) works for workers on several machines. Every study is a
standard Optuna RDB study, so ``optuna-dashboard <url>`` reads it.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import warnings
from pathlib import Path
from typing import Iterator

import optuna
from optuna.trial import TrialState

from mlops_dl.config import SearchConfig
from mlops_dl.errors import ConfigError, MlopsError
from mlops_dl.search.space import signature_diff

# Trials that count towards search.n_trials (FAIL ones do not: a failed trial is replaced).
COUNTED = (TrialState.COMPLETE, TrialState.PRUNED)
IN_FLIGHT = (TrialState.RUNNING,)  # WAITING (enqueued) trials are what the next ask() takes
SPACE_ATTR = "mlops_dl:space"  # study user attr: the space the study was created with
BASE_ATTR = "mlops_dl:base"  # ... and the base recipe (data, model, train) its trials share


def study_dir(search: SearchConfig, study_name: str) -> Path:
    """The local folder of a study's report, plots and (by default) its SQLite database."""
    if not study_name or "/" in study_name or "\\" in study_name or study_name.startswith("."):
        raise ConfigError(f"search.study_name: {study_name!r} is not a valid study name")
    return Path(search.study_dir) / study_name


def storage_url(search: SearchConfig, study_name: str, url: str = "") -> str:
    """``url`` or ``search.storage`` or the default ``sqlite:///<study_dir>/<study>/study.db``."""
    url = url or search.storage
    if url:
        return url
    folder = study_dir(search, study_name)
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder.resolve() / 'study.db'}"


def redact(url: str) -> str:
    """The URL with any password replaced by ***, for messages and reports."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a URL sqlalchemy cannot parse is shown as given
        return url


def open_storage(url: str, heartbeat_s: int) -> optuna.storages.RDBStorage:
    """An RDB storage with heartbeats, so trials of a killed worker end as FAIL."""
    engine_kwargs = {}
    if url.startswith("sqlite"):
        engine_kwargs = {"connect_args": {"timeout": 120}}  # workers wait on the file lock
    else:
        engine_kwargs = {"pool_pre_ping": True}
    try:
        return optuna.storages.RDBStorage(
            url,
            engine_kwargs=engine_kwargs,
            heartbeat_interval=heartbeat_s,
            grace_period=2 * heartbeat_s,
        )
    except Exception as e:  # noqa: BLE001 - sqlalchemy/driver errors have many types
        raise MlopsError(f"search storage {redact(url)}: cannot open it: {e}") from None


def make_sampler(search: SearchConfig, seed: int) -> optuna.samplers.BaseSampler:
    if search.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if search.sampler == "cmaes":
        return optuna.samplers.CmaEsSampler(
            seed=seed, n_startup_trials=search.startup_trials, warn_independent_sampling=False
        )
    with warnings.catch_warnings():  # multivariate TPE is marked experimental; stable in use
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=search.startup_trials, multivariate=True, group=True
        )


def make_pruner(search: SearchConfig) -> optuna.pruners.BasePruner:
    """Pruners step over validation checks (1, 2, ...) reporting the best macro-F1 so far."""
    if search.pruner == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=search.prune_startup_trials,
            n_warmup_steps=search.prune_warmup_checks + 1,
        )
    if search.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=search.hyperband_min_resource,
            reduction_factor=search.hyperband_reduction_factor,
        )
    return optuna.pruners.NopPruner()


def open_study(
    storage: optuna.storages.RDBStorage,
    study_name: str,
    search: SearchConfig,
    space_sig: str,
    seed: int,
    base_sig: str = "",
) -> optuna.Study:
    """Create the study or load it (resume); refuse to resume with another search space or
    another base recipe (``base_sig``, see ``space.base_signature``)."""
    study = optuna.create_study(
        storage=storage,
        study_name=study_name,
        direction="maximize",
        sampler=make_sampler(search, seed),
        pruner=make_pruner(search),
        load_if_exists=True,
    )
    stored = study.user_attrs.get(SPACE_ATTR)
    if stored is None:
        study.set_user_attr(SPACE_ATTR, space_sig)
    elif stored != space_sig:
        raise ConfigError(
            f"search.space differs from the one study {study_name!r} was created with; "
            f"use another --study name or the original space (stored: {stored})"
        )
    _check_base(study, base_sig)
    return study


def _check_base(study: optuna.Study, base_sig: str) -> None:
    """Trials trained on different recipes must not be ranked together."""
    if not base_sig:
        return
    stored = study.user_attrs.get(BASE_ATTR)
    if stored is None:  # a new study (or one created before this check)
        study.set_user_attr(BASE_ATTR, base_sig)
    elif stored != base_sig:
        changes = "; ".join(signature_diff(stored, base_sig)[:8])
        raise ConfigError(
            f"the base config differs from the one study {study.study_name!r} was created with "
            f"({changes}); its trials would be ranked against trials of another recipe: use "
            "another --study name, or the original config to resume"
        )


def fresh_trials(
    storage: optuna.storages.RDBStorage, study_name: str
) -> list[optuna.trial.FrozenTrial]:
    """The study's trials read from the database in one query (not from a study's cache)."""
    study_id = storage.get_study_id_from_name(study_name)
    return storage.get_all_trials(study_id, deepcopy=False)


def fail_stale_trials(study: optuna.Study) -> None:
    """Mark FAIL the RUNNING trials whose worker stopped sending heartbeats (killed)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


@contextlib.contextmanager
def study_lock(storage: optuna.storages.RDBStorage, study_name: str) -> Iterator[None]:
    """A lock shared by every worker of a study, held while a worker decides to start a trial.

    PostgreSQL: an advisory lock; MySQL: GET_LOCK; SQLite: a file lock beside the database.
    """
    key = hashlib.sha256(f"mlops-dl:{study_name}".encode()).digest()
    dialect = storage.engine.dialect.name
    if dialect == "sqlite":
        from filelock import FileLock

        database = storage.engine.url.database or ""
        path = Path(database + ".lock") if database and database != ":memory:" else None
        lock = FileLock(str(path)) if path else _LOCAL_LOCK
        with lock:
            yield
        return
    if dialect == "postgresql":
        from sqlalchemy import text

        lock_id = int.from_bytes(key[:8], "big", signed=True)
        with storage.engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": lock_id})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_id})
                conn.commit()
        return
    if dialect in ("mysql", "mariadb"):
        from sqlalchemy import text

        name = "mlops-dl-" + key.hex()[:40]
        with storage.engine.connect() as conn:
            conn.execute(text("SELECT GET_LOCK(:n, -1)"), {"n": name})
            try:
                yield
            finally:
                conn.execute(text("SELECT RELEASE_LOCK(:n)"), {"n": name})
        return
    with _LOCAL_LOCK:  # other dialects: processes of other machines are not serialised
        yield


_LOCAL_LOCK = threading.Lock()
