"""The docs' config reference page is the rendering of the schema: no key missing, none
undocumented, every key a shipped config uses listed."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from mlops_dl.config.reference import END, START, field_docs, keys, render

REPO = Path(__file__).resolve().parents[2]


def _roots():
    spec = importlib.util.spec_from_file_location("config_keys", REPO / "scripts" / "config_keys.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ROOTS


PAGE = REPO / "docs" / "config-reference.md"  # the generated page of the docs site


def _readme_block() -> str:
    text = PAGE.read_text(encoding="utf-8")
    return text.split(START, 1)[1].split(END, 1)[0].lstrip("\n")


def test_docs_key_reference_is_the_schema_rendering():
    assert _readme_block() == render(_roots()), (
        "docs/config-reference.md is stale: run "
        "`python scripts/config_keys.py --write docs/config-reference.md`")


def test_every_schema_key_has_a_description():
    missing = [k for title, root in _roots() for k, _, _, what in keys(root, f"{title}." if title else "")
               if not what]
    assert not missing, f"schema keys without a comment (the reference's description): {missing}"


MAPS = {"label_map", "space"}  # map-typed keys: their own keys are the user's


def _leaf_keys(raw, prefix=""):
    for key, value in (raw or {}).items():
        if isinstance(value, dict) and key not in MAPS:
            yield from _leaf_keys(value, f"{prefix}{key}.")
        elif key == "sources":
            yield from (f"{prefix}sources[].{k}" for src in value for k in src)
        else:
            yield f"{prefix}{key}"


def test_every_key_a_shipped_config_uses_is_in_the_reference():
    block = _readme_block()
    for path in sorted((REPO / "configs").glob("*.yaml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        prefix = "canvas." if "canvas" in path.name else ""
        for key in _leaf_keys(raw, prefix):
            assert f"`{key}`" in block, f"{path.name}: key {key} is not in the config reference"


@dataclass
class _Example:
    a: int = 1  # trailing comment
    b: int = 2  # starts here
    #   and continues here
    # a block above
    # the next field
    c: list[str] = field(default_factory=list)
    d: str = ""


def test_field_comments_trailing_continued_and_above():
    assert field_docs(_Example) == {"a": "trailing comment", "b": "starts here and continues here",
                                    "c": "a block above the next field", "d": ""}
