"""Loading configs: YAML + ``--set a.b=v`` overrides -> a validated :class:`Config`."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml

from mlops_dl import files
from mlops_dl.config.coerce import build
from mlops_dl.config.schema import Config
from mlops_dl.errors import ConfigError, clip, quoted


def load(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read a YAML config, apply ``a.b=v`` overrides, validate against :class:`Config`."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    for item in overrides:
        apply_override(raw, item)
    cfg = from_dict(raw, source=str(path))
    cfg.pipeline.canvas = _beside(cfg.pipeline.canvas, path)
    return cfg


def _beside(named: str, config_path: Path) -> str:
    """A relative path a config names (pipeline.canvas), made absolute: the current directory
    first, then the config file's directory; left as is when neither holds it."""
    if not named or Path(named).is_absolute():
        return named
    for folder in (Path.cwd(), config_path.resolve().parent):
        if (folder / named).is_file():
            return str((folder / named).resolve())
    return named


def apply_override(raw: dict, item: str) -> None:
    """Set ``a.b.c=value`` (value parsed as YAML) into a raw config dict."""
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {quoted(item)}: expected KEY=VALUE, e.g. train.lr=3e-5")
    node, leaf = _walk(raw, key.strip(), create=True, where=f"--set {key}")
    try:
        node[leaf] = yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError as e:
        raise ConfigError(f"--set {clip(key)}: value {quoted(value)} is not valid YAML: {e}") from None


def from_dict(raw: dict, source: str = "<dict>") -> Config:
    """Validate a raw mapping into a :class:`Config`; errors name ``source`` and the key."""
    return build(Config, raw, source, "")


def build_section(cls: type, raw: Any, source: str, prefix: str = "") -> Any:
    """Validate a raw mapping into any schema dataclass (a section, or the ML canvas)."""
    return build(cls, raw, source, prefix)


def to_dict(cfg: Any) -> dict:
    return dataclasses.asdict(cfg)


def save(cfg: Config, path: str | Path) -> None:
    """Write the resolved config as YAML (atomically)."""
    files.write_text(path, yaml.safe_dump(to_dict(cfg), sort_keys=False))


def replace(cfg: Config, values: dict[str, Any]) -> Config:
    """A new validated config with dotted keys replaced, e.g. {"train.lr": 3e-5}."""
    raw = to_dict(cfg)
    for key, value in values.items():
        node, leaf = _walk(raw, key, create=False, where=key)
        node[leaf] = value
    return from_dict(raw, source="<replaced>")


def _walk(raw: dict, key: str, create: bool, where: str) -> tuple[dict, str]:
    """(parent mapping, leaf name) of dotted ``key`` in ``raw``. An existing mapping key that
    holds dots matches as one part, so ``search.space.train.lr.low`` reaches space["train.lr"]."""
    parts = key.split(".")
    node, i = raw, 0
    while True:
        j = next((j for j in range(len(parts), i + 1, -1) if ".".join(parts[i:j]) in node), i + 1)
        name = ".".join(parts[i:j])
        if j == len(parts):
            return node, name
        if create and name not in node:
            node[name] = {}
        if not isinstance(node.get(name), dict):
            raise ConfigError(f"{where}: {name} is not a config section")
        node, i = node[name], j
