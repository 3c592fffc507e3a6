"""The search space: sample a trial's values from ``search.space`` and build its config.

A trial's config is the base config with each sampled dotted key replaced through
``config.replace`` (so it is validated like any config); there is no string DSL.
"""

from __future__ import annotations

import json
from typing import Any

import optuna

from mlops_dl.config import Config, ParamSpace, replace, to_dict


def suggest(trial: optuna.Trial, space: dict[str, ParamSpace]) -> dict[str, Any]:
    """Sample one value per dotted key of ``space`` (the Optuna param name is the key)."""
    return {key: suggest_one(trial, key, spec) for key, spec in space.items()}


def suggest_one(trial: optuna.Trial, key: str, spec: ParamSpace) -> Any:
    if spec.type == "categorical":
        return trial.suggest_categorical(key, list(spec.choices))
    if spec.type == "int":
        step = int(spec.step) if spec.step is not None else 1
        return trial.suggest_int(key, int(spec.low), int(spec.high), step=step, log=spec.log)
    return trial.suggest_float(key, spec.low, spec.high, step=spec.step, log=spec.log)


def trial_config(base: Config, params: dict[str, Any]) -> Config:
    """``base`` with the sampled ``params`` (dotted keys) replaced, validated."""
    return replace(base, params)


def base_params(cfg: Config) -> dict[str, Any]:
    """The base config's value of each searched key that lies in its space (for enqueueing
    the base config as the first trial, so the search is never worse than the default)."""
    raw = to_dict(cfg)
    out = {}
    for key, spec in cfg.search.space.items():
        section, field = key.split(".", 1)
        value = raw[section][field]
        if _in_space(value, spec):
            out[key] = value
    return out


def _in_space(value: Any, spec: ParamSpace) -> bool:
    if spec.type == "categorical":
        return any(value == c and type(value) is type(c) for c in spec.choices)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if not spec.low <= value <= spec.high:
        return False
    if spec.type == "int" and not float(value).is_integer():
        return False
    step = spec.step or (1 if spec.type == "int" else None)
    return step is None or abs((value - spec.low) / step - round((value - spec.low) / step)) < 1e-9


# train keys that change how a trial runs, not what it learns: workers on other machines (GPU or
# CPU, more threads) may differ in them and still join one study
OPERATIONAL_TRAIN_KEYS = frozenset({
    "accelerator", "devices", "strategy", "num_nodes", "num_threads", "num_workers",
    "progress_bar", "runs_dir", "run_name", "logger", "log_every_n_steps", "max_time_min",
    "checkpoint_every_n_steps", "eval_batch_size",
})  # fmt: skip


def base_signature(cfg: Config) -> str:
    """The recipe every trial shares (data, model and train sections, less the searched and
    operational keys) as stable JSON: a study refuses to resume under another recipe."""
    raw = to_dict(cfg)
    base = {
        "data": {k: v for k, v in raw["data"].items() if k not in ("output_dir", "tokenizer")},
        "model": raw["model"],
        "train": {k: v for k, v in raw["train"].items() if k not in OPERATIONAL_TRAIN_KEYS},
    }
    for key in cfg.search.space:
        section, field = key.split(".", 1)
        base[section].pop(field, None)
    return json.dumps(base, sort_keys=True, default=str)


def signature_diff(stored: str, current: str) -> list[str]:
    """``section.key: old -> new`` for each value that differs between two base signatures."""
    old, new = json.loads(stored), json.loads(current)
    out = []
    for section in sorted(set(old) | set(new)):
        a, b = old.get(section, {}), new.get(section, {})
        out += [f"{section}.{k}: {a.get(k)!r} -> {b.get(k)!r}"
                for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]  # fmt: skip
    return out


def space_signature(space: dict[str, ParamSpace]) -> str:
    """A stable JSON text of the space, stored on the study to refuse a changed space on resume."""
    return json.dumps({k: to_dict(v) for k, v in sorted(space.items())}, sort_keys=True)

