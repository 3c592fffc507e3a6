"""Typed coercion of raw YAML values into schema dataclasses; errors name source and key."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal

from mlops_dl.errors import ConfigError, quoted


class RangeError(ConfigError):
    """A value out of range, raised by a schema ``__post_init__`` with the key relative to its
    dataclass; ``build`` names the file and the full dotted key."""

    def __init__(self, key: str, why: str):
        super().__init__(f"{key}: {why}")
        self.key, self.why = key, why


def check_ranges(obj: Any, rules: list[tuple[str, bool, str]]) -> None:
    """Raise a RangeError for the first ``(key, ok, why)`` rule that fails (shows the value)."""
    for key, ok, why in rules:
        if not ok:
            raise RangeError(key, f"{why}, got {quoted(_dotted(obj, key))}")


def check_literals(obj: Any) -> None:
    """Raise a RangeError for a Literal-typed field holding a value outside its choices."""
    for name, tp in typing.get_type_hints(type(obj)).items():
        choices = typing.get_args(tp) if typing.get_origin(tp) is Literal else ()
        if choices and getattr(obj, name) not in choices:
            raise RangeError(name, f"expected one of {', '.join(map(repr, choices))}, "
                                   f"got {quoted(getattr(obj, name))}")


def _dotted(obj: Any, key: str) -> Any:
    for part in key.split("."):
        obj = getattr(obj, part, None)
    return obj


def build(cls: type, raw: Any, source: str, prefix: str) -> Any:
    where = prefix.rstrip(".") or "top level"
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: {where}: expected a mapping, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in known:
            raise ConfigError(
                f"{source}: unknown key {prefix}{key!s} (valid keys: {', '.join(known)})"
            )
    kwargs = {k: coerce(hints[k], v, source, f"{prefix}{k}") for k, v in raw.items()}
    for name, f in known.items():
        no_default = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if no_default and name not in kwargs:
            raise ConfigError(f"{source}: missing required key {prefix}{name}")
    try:
        return cls(**kwargs)  # __post_init__ checks (ranges, search spaces) raise without source
    except RangeError as e:
        raise ConfigError(f"{source}: {prefix}{e.key}: {e.why}") from None
    except ConfigError as e:
        msg = str(e)
        raise ConfigError(msg if msg.startswith(f"{source}: ") else f"{source}: {msg}") from None


def coerce(tp: Any, value: Any, source: str, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)

    def fail(expected: str) -> ConfigError:
        got = f"{type(value).__name__} {quoted(value)}"
        return ConfigError(f"{source}: key {key}: expected {expected}, got {got}")

    if dataclasses.is_dataclass(tp):
        return build(tp, value, source, key + ".")
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            try:
                return coerce(arg, value, source, key)
            except ConfigError:
                continue
        raise fail(" or ".join(getattr(a, "__name__", str(a)) for a in args))
    if origin is Literal:
        if value not in args:
            raise fail("one of " + ", ".join(repr(a) for a in args))
        return value
    if origin is list:
        if not isinstance(value, list):
            raise fail("a list")
        return [coerce(args[0], v, source, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise fail("a mapping")
        return {str(k): coerce(args[1], v, source, f"{key}.{k}") for k, v in value.items()}
    if tp is Any:
        return value
    if tp is type(None):
        if value is not None:
            raise fail("null")
        return None
    if tp is bool:
        if not isinstance(value, bool):
            raise fail("true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail("an integer")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads 5e-5 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                raise fail("a number") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail("a number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise fail("a string")
        return value
    raise ConfigError(f"{source}: key {key}: unsupported schema type {tp!r}")
