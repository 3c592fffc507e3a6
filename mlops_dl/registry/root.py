"""Where the registry is: one resolver for every command and module.

First that is set: an explicit value (``--registry``, a config's ``export.registry``),
``$MLOPS_DL_REGISTRY``, the project default of the working directory (``registry:`` in
``mlops-dl.yaml``, else ``registry =`` under ``[tool.mlops-dl]`` in ``pyproject.toml``;
relative paths are relative to that file), then ``./registry``.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import yaml

from mlops_dl.errors import RegistryError

ENV = "MLOPS_DL_REGISTRY"
PROJECT_FILE = "mlops-dl.yaml"
PYPROJECT = "pyproject.toml"
DEFAULT = "registry"


def resolve_root(value: str | os.PathLike | None = None, cwd: str | Path | None = None) -> str:
    """The registry root to open (a path, as a string)."""
    if value not in (None, ""):
        text = str(value)  # a Path made of s3://b/p reads s3:/b/p
        return "s3://" + text[4:] if text.startswith("s3:/") and text[4] != "/" else text
    if os.environ.get(ENV):
        return os.environ[ENV]
    return project_default(Path(cwd) if cwd else Path.cwd()) or DEFAULT


def is_remote(root: str) -> bool:
    """An object-store registry (``s3://bucket/prefix``) rather than a folder."""
    return str(root).startswith("s3://")


def project_default(folder: Path, key: str = "registry") -> str | None:
    """``key`` (registry, canvas) from ``mlops-dl.yaml`` or ``[tool.mlops-dl]`` of
    pyproject.toml in ``folder``; a relative path is made relative to that file."""
    value, source = _from_yaml(folder / PROJECT_FILE, key), folder / PROJECT_FILE
    if value is None:
        value, source = _from_pyproject(folder / PYPROJECT, key), folder / PYPROJECT
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise RegistryError(f"{source}: {key} must be a non-empty string (a path), got {value!r}")
    if "://" in value or Path(value).is_absolute():
        return value
    return str(source.parent / value)


def _read(path: Path, parse, error: type[Exception], what: str):
    """``path`` parsed (None when it is not there); a parse error names the file."""
    if not path.is_file():
        return None
    try:
        return parse(path.read_text(encoding="utf-8"))
    except error as e:
        raise RegistryError(f"{path}: not valid {what} ({e})") from None


def _from_yaml(path: Path, key: str):
    doc = _read(path, yaml.safe_load, yaml.YAMLError, "YAML")
    if doc is None:
        return None
    if not isinstance(doc, dict):
        raise RegistryError(f"{path}: expected a mapping such as 'registry: shared/registry'")
    return doc.get(key)


def _from_pyproject(path: Path, key: str):
    doc = _read(path, tomllib.loads, tomllib.TOMLDecodeError, "TOML") or {}
    section = doc.get("tool", {}).get("mlops-dl", {})
    return section.get(key) if isinstance(section, dict) else None
