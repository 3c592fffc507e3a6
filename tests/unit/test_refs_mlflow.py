"""MLflow-style references (models:/NAME/VERSION, models:/NAME@ALIAS) wherever a reference is
accepted, and a mistyped --registry that fails instead of reading as an empty registry."""

from __future__ import annotations

import pytest

from mlops_dl.cli import main
from mlops_dl.errors import RegistryError
from mlops_dl.registry import ModelRef, parse_ref
from mlops_dl.serve.swap import is_pinned


@pytest.mark.parametrize("ref, parsed", [
    ("models:/quickstart/1", ModelRef("quickstart", version=1)),
    ("models:/quickstart@production", ModelRef("quickstart", alias="production")),
    ("models:/quickstart", ModelRef("quickstart")),
    ("models:/quickstart/latest", ModelRef("quickstart")),
    ("quickstart:1", ModelRef("quickstart", version=1)),
    ("quickstart@staging", ModelRef("quickstart", alias="staging")),
])
def test_mlflow_and_native_forms_parse_alike(ref, parsed):
    assert parse_ref(ref) == parsed


@pytest.mark.parametrize("ref, message", [
    ("models:/quickstart/Production", r"not a version number \(an alias is models:/quickstart@Production\)"),
    ("models:quickstart/1", r"models:/NAME/VERSION or models:/NAME@ALIAS"),
    ("models:/quick/start/1", r"expected models:/NAME/VERSION"),
    ("models:/a@b/c", r"expected models:/NAME/VERSION"),
    ("models:/../x/1", r"invalid model name"),
])
def test_bad_mlflow_refs_say_the_form(ref, message):
    with pytest.raises(RegistryError, match=message):
        parse_ref(ref)


def test_pinned_and_cli(tmp_path, capsys):
    assert is_pinned("models:/m/2") and not is_pinned("models:/m@production")
    (tmp_path / "reg").mkdir()
    assert main(["registry", "show", "models:/m/1", "--registry", str(tmp_path / "reg")]) != 0
    assert "no model named 'm'" in capsys.readouterr().err
    assert main(["registry", "list", "--registry", str(tmp_path / "typo")]) != 0
    err = capsys.readouterr().err
    assert "--registry" in err and "typo: no such folder" in err
