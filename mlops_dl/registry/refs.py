"""Model references (``name``, ``name:3``, ``name@production``, and MLflow's
``models:/name/3``, ``models:/name@production``) and name validation.

Names become directory names, so they are checked against one strict pattern: no path
separators, no leading dot (hidden temp dirs), no traversal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlops_dl.errors import RegistryError, quoted
from mlops_dl.numbers import NumberError, parse_count
from mlops_dl.registry.layout import ALIASES, ATTACHMENTS, TAGS

MLFLOW_PREFIX = "models:/"  # MLflow's model URI scheme, accepted wherever a reference is
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")  # used with fullmatch: no trailing "\n"
RESERVED = {"latest", ALIASES, TAGS, ATTACHMENTS}
VERSION_DIGITS = 9  # version numbers up to 999,999,999


def is_ascii_number(text: str) -> bool:
    """Digits 0-9 only: ``str.isdigit`` also accepts '²' and '١', which int() fails on or reads."""
    return text.isascii() and text.isdigit()


def check_name(value: str, what: str = "model name") -> str:
    """Return ``value`` if it is a safe registry name, else raise RegistryError."""
    if not isinstance(value, str) or not NAME_RE.fullmatch(value) or ".." in value:
        raise RegistryError(
            f"invalid {what} {quoted(value)}: use 1-128 characters from letters, digits, '.', '_' "
            f"and '-', starting with a letter or digit (no '/', '\\' or '..')"
        )
    return value


def is_valid_name(value: str) -> bool:
    try:
        check_name(value)
    except RegistryError:
        return False
    return True


def check_alias(value: str, what: str = "alias") -> str:
    check_name(value, what)
    if value in RESERVED or is_ascii_number(value):
        raise RegistryError(f"invalid {what} {quoted(value)}: reserved word or a bare number")
    return value


def check_attachment(filename: str) -> str:
    check_name(filename, "attachment name")
    if not filename.endswith(".json"):
        raise RegistryError(f"attachment name {quoted(filename)} must end with .json")
    return filename


def parse_version(text: str, field: str = "version") -> int:
    """A version number from outside (a ref, a form field, a URL): see mlops_dl.numbers."""
    try:
        return parse_count(text, field, max_digits=VERSION_DIGITS, minimum=1)
    except NumberError as e:
        raise RegistryError(f"invalid {e} (a version is a positive integer, e.g. 1)") from None


@dataclass(frozen=True)
class ModelRef:
    """A parsed reference: exactly one of ``version``/``alias`` or neither (= latest)."""

    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}:{self.version}"
        if self.alias is not None:
            return f"{self.name}@{self.alias}"
        return self.name


def parse_ref(ref: str) -> ModelRef:
    """``name`` -> latest, ``name:3`` -> version 3, ``name@production`` -> alias; the MLflow
    forms ``models:/name/3``, ``models:/name@production``, ``models:/name[/latest]`` too."""
    if not isinstance(ref, str) or not ref.strip():
        raise RegistryError("empty model reference (expected name, name:3, name@alias or "
                            "models:/name/3)")
    if ref != ref.strip():
        raise RegistryError(f"model reference {quoted(ref)} has white space or a newline "
                            "around it (expected name, name:3, name@alias or models:/name/3)")
    if ref.startswith(MLFLOW_PREFIX):
        return _parse_mlflow(ref)
    if ref.startswith("models:"):
        raise RegistryError(f"invalid model reference {quoted(ref)}: MLflow-style references are "
                            f"models:/NAME/VERSION or models:/NAME@ALIAS (e.g. models:/sentiment/1)")
    if "@" in ref:
        name, _, alias = ref.partition("@")
        return ModelRef(check_name(name), alias=check_name(alias, "alias"))
    if ":" in ref:
        name, _, version = ref.partition(":")
        check_name(name)
        if version == "latest":
            return ModelRef(name)
        return ModelRef(name, version=parse_version(version, f"version in {quoted(ref, 40)}"))
    return ModelRef(check_name(ref))


def _parse_mlflow(ref: str) -> ModelRef:
    """``models:/name/3``, ``models:/name@alias``, ``models:/name`` or ``models:/name/latest``."""
    body = ref[len(MLFLOW_PREFIX):]
    hint = "expected models:/NAME/VERSION or models:/NAME@ALIAS, e.g. models:/sentiment/1"
    if "@" in body:
        name, _, alias = body.partition("@")
        if "/" in alias:
            raise RegistryError(f"invalid model reference {quoted(ref)}: {hint}")
        return ModelRef(check_name(name), alias=check_name(alias, "alias"))
    name, _, version = body.partition("/")
    check_name(name)
    if version in ("", "latest"):
        return ModelRef(name)
    if not is_ascii_number(version) or int(version) < 1:
        why = (f"{quoted(version)} is not a version number (an alias is models:/{name}@{version})"
               if NAME_RE.fullmatch(version) else hint)
        raise RegistryError(f"invalid model reference {quoted(ref)}: {why}")
    return ModelRef(name, version=int(version))
