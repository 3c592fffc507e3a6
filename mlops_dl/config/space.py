"""Checks of a search space entry (``search.space.<key>``): its key is a searchable leaf of the
schema and its bounds or choices can be sampled and coerce to that leaf's type."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from mlops_dl.config.coerce import coerce
from mlops_dl.errors import ConfigError

SEARCHABLE_SECTIONS = ("model", "train")  # search.space keys must be leaves of these sections


def check_param_space(key: str, spec: Any) -> None:
    """Raise a ConfigError naming ``search.space.<key>`` if the space cannot be sampled."""
    where = f"search.space.{key}"
    hint = _leaf_type(key, where)
    if spec.type == "categorical":
        if not spec.choices:
            raise ConfigError(f"{where}: categorical needs a non-empty 'choices' list")
        if spec.low is not None or spec.high is not None or spec.log or spec.step is not None:
            raise ConfigError(f"{where}: categorical takes only 'choices' (no low/high/log/step)")
        for i, choice in enumerate(spec.choices):
            if choice is not None and not isinstance(choice, (bool, int, float, str)):
                raise ConfigError(f"{where}.choices[{i}]: must be a scalar, got {choice!r}")
            coerce(hint, choice, where, f"choices[{i}]")
        return
    if spec.choices:
        raise ConfigError(f"{where}: 'choices' is only for type categorical")
    if spec.low is None or spec.high is None:
        raise ConfigError(f"{where}: type {spec.type} needs both 'low' and 'high'")
    if not spec.low < spec.high:
        raise ConfigError(f"{where}: low ({spec.low:g}) must be < high ({spec.high:g})")
    if spec.log and spec.low <= 0:
        raise ConfigError(f"{where}: log scale needs low > 0, got {spec.low:g}")
    if spec.log and spec.step is not None:
        raise ConfigError(f"{where}: 'step' and 'log' cannot be combined")
    if spec.step is not None and spec.step <= 0:
        raise ConfigError(f"{where}: step must be > 0, got {spec.step:g}")
    if spec.type == "int":
        for name in ("low", "high", "step"):
            value = getattr(spec, name)
            if value is not None and not float(value).is_integer():
                raise ConfigError(f"{where}: type int needs an integer {name}, got {value:g}")
    elif _accepts_int_only(hint):
        raise ConfigError(f"{where}: {key} is an integer key; use type: int")
    coerce(hint, int(spec.low) if spec.type == "int" else spec.low, where, "low")


def _leaf_type(key: str, where: str) -> Any:
    """The schema type of dotted ``key`` (a leaf of a searchable section), or a ConfigError."""
    from mlops_dl.config.schema import Config  # schema imports this module

    section, _, rest = key.partition(".")
    if section not in SEARCHABLE_SECTIONS or not rest:
        raise ConfigError(
            f"{where}: not a searchable key; use <section>.<field> with section one of "
            f"{', '.join(SEARCHABLE_SECTIONS)} (e.g. train.lr)"
        )
    cls: Any = typing.get_type_hints(Config)[section]
    for part in rest.split("."):
        hints = typing.get_type_hints(cls) if dataclasses.is_dataclass(cls) else {}
        if part not in hints:
            valid = ", ".join(hints) if hints else "none: it is not a section"
            raise ConfigError(f"{where}: unknown config key {key} (valid here: {valid})")
        cls = hints[part]
    if dataclasses.is_dataclass(cls):
        raise ConfigError(f"{where}: {key} is a section, not a value")
    return cls


def _accepts_int_only(tp: Any) -> bool:
    return tp is int or set(typing.get_args(tp)) - {type(None), str} == {int}
