"""Search space, sampler and pruner: config validation and sampling, no training."""

from __future__ import annotations

import optuna
import pytest
import yaml

from mlops_dl import config as config_mod
from mlops_dl.cli import main
from mlops_dl.errors import ConfigError
from mlops_dl.search import storage as storage_mod
from mlops_dl.search.space import base_params, space_signature, suggest, trial_config

SHIPPED = ("configs/quickstart-search.yaml", "configs/tweeteval-search.yaml")


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_search_configs_load(repo_root, name):
    cfg = config_mod.load(repo_root / name)
    assert cfg.search.space, f"{name} declares no search space"
    for key in cfg.search.space:  # every searched key is a real, replaceable config key
        section, field = key.split(".", 1)
        assert hasattr(getattr(cfg, section), field)


BAD_SPACES = [
    ({"train.lrr": {"type": "float", "low": 1e-5, "high": 1e-3}}, "search.space.train.lrr", "unknown config key"),
    ({"train.lr": {"type": "float", "low": 1e-3, "high": 1e-5}}, "search.space.train.lr", "low"),
    ({"train.lr": {"type": "float", "low": 1e-3, "high": 1e-3}}, "search.space.train.lr", "must be < high"),
    ({"train.lr": {"type": "float", "low": 0.0, "high": 1e-3, "log": True}}, "search.space.train.lr", "log scale needs low > 0"),
    ({"train.lr": {"type": "float", "high": 1e-3}}, "search.space.train.lr", "needs both 'low' and 'high'"),
    ({"train.batch_size": {"type": "categorical"}}, "search.space.train.batch_size", "non-empty 'choices'"),
    ({"train.batch_size": {"type": "categorical", "choices": [16, "big"]}}, "search.space.train.batch_size", "choices[1]"),
    ({"train.batch_size": {"type": "float", "low": 8, "high": 64}}, "search.space.train.batch_size", "use type: int"),
    ({"train.epochs": {"type": "int", "low": 1, "high": 4.5}}, "search.space.train.epochs", "integer high"),
    ({"train.lr": {"type": "float", "low": 1e-5, "high": 1e-3, "log": True, "step": 1e-5}}, "search.space.train.lr", "'step' and 'log'"),
    ({"train.lr": {"type": "float", "low": 1e-5, "high": 1e-3, "choices": [1]}}, "search.space.train.lr", "only for type categorical"),
    ({"train": {"type": "float", "low": 1, "high": 2}}, "search.space.train", "not a searchable key"),
    ({"data.name": {"type": "categorical", "choices": ["a"]}}, "search.space.data.name", "not a searchable key"),
    ({"train.precision": {"type": "categorical", "choices": ["32-true", "64"]}}, "search.space.train.precision", "'64'"),
]  # fmt: skip


@pytest.mark.parametrize("space,key,fragment", BAD_SPACES)
def test_bad_search_space_names_the_key(repo_root, tmp_path, space, key, fragment):
    raw = yaml.safe_load((repo_root / "configs/quickstart-search.yaml").read_text())
    raw["search"]["space"] = space
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as err:
        config_mod.load(path)
    assert key in str(err.value) and fragment in str(err.value)
    assert str(err.value).startswith(f"{path}: ")  # the file too, not only the key


def test_bad_space_type_and_field_name_the_file(repo_root, tmp_path):
    raw = yaml.safe_load((repo_root / "configs/quickstart-search.yaml").read_text())
    raw["search"]["space"] = {"train.lr": {"type": "floaty", "low": 1, "high": 2}}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"bad.yaml: key search.space.train.lr.type"):
        config_mod.load(path)
    raw["search"]["space"] = {"train.lr": {"type": "float", "low": 1, "high": 2, "lo": 1}}
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"unknown key search.space.train.lr.lo"):
        config_mod.load(path)


def test_cli_prints_space_error_without_traceback(repo_root, tmp_path, capsys):
    raw = yaml.safe_load((repo_root / "configs/quickstart-search.yaml").read_text())
    raw["search"]["space"] = {"train.lr": {"type": "float", "low": 0, "high": 1, "log": True}}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["search", "--config", str(path)]) != 0
    err = capsys.readouterr().err
    assert "search.space.train.lr" in err and "Traceback" not in err


def test_cli_set_override_is_validated_too(repo_root, capsys):
    code = main(["search", "--config", str(repo_root / "configs/quickstart-search.yaml"),
                 "--set", "search.space.train.lr.low=0.1"])  # low > high  # fmt: skip
    assert code != 0 and "search.space.train.lr" in capsys.readouterr().err


def test_empty_space_is_refused(repo_root, tmp_path):
    from mlops_dl.search import optimize

    cfg = config_mod.load(repo_root / "configs/quickstart-search.yaml",
                          [f"search.study_dir={tmp_path}"])  # fmt: skip
    cfg = config_mod.replace(cfg, {"search.space": {}})
    with pytest.raises(ConfigError, match="search.space is empty"):
        optimize(cfg)


def test_trial_config_replaces_sampled_values(repo_root):
    cfg = config_mod.load(repo_root / "configs/quickstart-search.yaml")
    cfg = config_mod.replace(cfg, {"search.space": {
        "train.lr": {"type": "float", "low": 1e-5, "high": 1e-3, "log": True},
        "train.batch_size": {"type": "categorical", "choices": [16, 32]},
        "train.epochs": {"type": "int", "low": 1, "high": 5, "step": 2},
        "model.max_length": {"type": "int", "low": 32, "high": 128, "log": True},
        "train.class_weights": {"type": "categorical", "choices": [False, True]},
    }})  # fmt: skip
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(10):
        trial = study.ask()
        params = suggest(trial, cfg.search.space)
        t_cfg = trial_config(cfg, params)
        assert 1e-5 <= t_cfg.train.lr <= 1e-3
        assert t_cfg.train.batch_size in (16, 32) and t_cfg.train.epochs in (1, 3, 5)
        assert 32 <= t_cfg.model.max_length <= 128 and isinstance(t_cfg.train.class_weights, bool)
        assert t_cfg.data == cfg.data and t_cfg.search == cfg.search  # nothing else changes
        study.tell(trial, 0.0)
    assert space_signature(cfg.search.space) == space_signature(dict(reversed(cfg.search.space.items())))


def test_base_params_are_the_base_values_inside_the_space(repo_root):
    cfg = config_mod.load(repo_root / "configs/tweeteval-search.yaml")
    assert base_params(cfg) == {"train.lr": 1e-4, "train.warmup_ratio": 0.06,
                                "train.weight_decay": 0.01, "train.class_weights": True}  # fmt: skip
    cfg = config_mod.replace(cfg, {"search.space": {
        "train.lr": {"type": "float", "low": 1e-3, "high": 1e-2},  # base 1e-4 outside
        "train.batch_size": {"type": "int", "low": 8, "high": 64, "step": 8},  # 16 on the grid
        "train.max_steps": {"type": "int", "low": 100, "high": 1000, "step": 200},  # 540 off it
        "train.class_weights": {"type": "categorical", "choices": [False]},  # base True: not in
    }})  # fmt: skip
    assert base_params(cfg) == {"train.batch_size": 16}


def test_samplers_are_seeded_and_named(repo_root):
    cfg = config_mod.load(repo_root / "configs/quickstart-search.yaml")

    def first_params(sampler_name: str, seed: int) -> list[dict]:
        search = config_mod.replace(cfg, {"search.sampler": sampler_name}).search
        study = optuna.create_study(direction="maximize",
                                    sampler=storage_mod.make_sampler(search, seed))  # fmt: skip
        study.optimize(lambda t: suggest(t, search.space)["train.lr"], n_trials=5)
        return [t.params for t in study.trials]

    for name, kind in (("tpe", optuna.samplers.TPESampler), ("random", optuna.samplers.RandomSampler),
                       ("cmaes", optuna.samplers.CmaEsSampler)):  # fmt: skip
        search = config_mod.replace(cfg, {"search.sampler": name}).search
        assert isinstance(storage_mod.make_sampler(search, 1), kind)
        assert first_params(name, 7) == first_params(name, 7)
    assert first_params("tpe", 7) != first_params("tpe", 8)


def test_pruners_by_name(repo_root):
    cfg = config_mod.load(repo_root / "configs/quickstart-search.yaml")
    expected = {"median": optuna.pruners.MedianPruner, "hyperband": optuna.pruners.HyperbandPruner,
                "none": optuna.pruners.NopPruner}  # fmt: skip
    for name, kind in expected.items():
        search = config_mod.replace(cfg, {"search.pruner": name}).search
        assert isinstance(storage_mod.make_pruner(search), kind)


def test_default_storage_is_sqlite_in_the_study_folder(repo_root, tmp_path):
    cfg = config_mod.load(repo_root / "configs/quickstart-search.yaml", [f"search.study_dir={tmp_path}"])
    url = storage_mod.storage_url(cfg.search, "s1")
    assert url == f"sqlite:///{tmp_path.resolve()}/s1/study.db"
    assert storage_mod.storage_url(cfg.search, "s1", "postgresql://u@h/db") == "postgresql://u@h/db"
    assert "secret" not in storage_mod.redact("postgresql://u:secret@h/db")
    with pytest.raises(ConfigError, match="study_name"):
        storage_mod.study_dir(cfg.search, "../escape")


def test_resume_with_another_space_is_refused(repo_root, tmp_path):
    cfg = config_mod.load(repo_root / "configs/quickstart-search.yaml", [f"search.study_dir={tmp_path}"])
    url = storage_mod.storage_url(cfg.search, "s2")
    rdb = storage_mod.open_storage(url, 5)
    storage_mod.open_study(rdb, "s2", cfg.search, space_signature(cfg.search.space), 0)
    other = config_mod.replace(cfg, {"search.space.train.lr.high": 1e-3}).search
    with pytest.raises(ConfigError, match="differs"):
        storage_mod.open_study(rdb, "s2", other, space_signature(other.space), 0)


def test_resume_with_another_base_recipe_is_refused_naming_the_keys(repo_root, tmp_path):
    from mlops_dl.search.space import base_signature

    cfg = config_mod.load(repo_root / "configs/quickstart-search.yaml", [f"search.study_dir={tmp_path}"])
    rdb = storage_mod.open_storage(storage_mod.storage_url(cfg.search, "s3"), 5)

    def reopen(c):
        return storage_mod.open_study(rdb, "s3", c.search, space_signature(c.search.space), 0,
                                      base_signature(c))  # fmt: skip

    reopen(cfg)
    # what a resumed or joining worker may change: how trials run, searched keys, trial count
    same = config_mod.replace(cfg, {"train.num_threads": 2, "train.progress_bar": False,
                                    "train.accelerator": "gpu", "train.runs_dir": "elsewhere",
                                    "train.lr": 1e-5, "search.n_trials": 40,
                                    "data.output_dir": "moved"})  # fmt: skip
    assert "train.lr" in cfg.search.space
    reopen(same)
    # what changes what trials learn: refused, with the changed keys named
    changed = config_mod.replace(cfg, {"train.max_steps": 999, "model.max_length": 64})
    with pytest.raises(ConfigError) as err:
        reopen(changed)
    text = str(err.value)
    assert "base config differs" in text and "another --study" in text
    assert f"train.max_steps: {cfg.train.max_steps!r} -> 999" in text
    assert f"model.max_length: {cfg.model.max_length!r} -> 64" in text
