"""CLI refs from outside (issue 24): unicode digits, 5,000 digits, leading zeros and a trailing
newline are one-line errors naming the version, never a traceback."""

from __future__ import annotations

import pytest

from mlops_dl.cli import main
from mlops_dl.registry import open_registry
from tests.unit.test_registry import make_bundle

REFS = ["m:" + "9" * 5000, "m:\u00b2", "m:\u0661", "m:01", "m:1\n", "m:0"]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli-numbers")
    open_registry(tmp / "reg").register("m", make_bundle(tmp / "b"))
    return str(tmp / "reg")


@pytest.mark.parametrize("ref", REFS)
@pytest.mark.parametrize("command", [["registry", "show"], ["registry", "verify"],
                                     ["registry", "promote", "{ref}", "production"],
                                     ["predict", "{ref}", "-i", "x.csv", "-o", "y.csv"]])
def test_bad_versions_are_one_line_errors(root, capsys, ref, command):
    args = [a.replace("{ref}", ref) for a in command]
    if "{ref}" not in command:
        args.append(ref)
    assert main([*args, "--registry", root]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and ("invalid version" in err or "white space" in err), err
    assert len(err) < 1500
