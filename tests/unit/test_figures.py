"""Every figure says what it is (split, n, PyTorch), partial or missing figures are said so and
never compared, one chart measure with one series per n, and a verdict before the tables."""

from __future__ import annotations

import json

from mlops_dl.cli import main
from mlops_dl.gates import figures
from mlops_dl.registry import open_registry
from tests.unit.monitor_helpers import bundle_copy


def _version(reg, src, tmp_path, name, edit):
    bundle = bundle_copy(src.path, tmp_path / name)
    metrics = json.loads((bundle / "metrics.json").read_text())
    edit(metrics)
    (bundle / "metrics.json").write_text(json.dumps(metrics))
    return reg.register("tiny", bundle)


def _registry(tiny_registry, tmp_path):
    src = open_registry(tiny_registry).get("tiny:1")
    reg = open_registry(tmp_path / "registry")
    reg.register("tiny", src.path)  # tiny:1, evaluated: full validation and test figures

    def partial(m):  # exported from a run never evaluated: training's partial validation
        m["validation"]["n"] = m["validation"]["n"] // 4
        m.pop("test")

    _version(reg, src, tmp_path, "partial", partial)
    return reg


def test_partial_and_missing_figures_are_named(tiny_registry, tmp_path):
    reg = _registry(tiny_registry, tmp_path)
    full, part = figures.version_figures(reg.get("tiny:1")), figures.version_figures(reg.get("tiny:2"))
    assert full["validation"]["complete"] is True and "(validation, n=" in full["validation"]["text"]
    assert part["validation"]["complete"] is False and "partial: n=" in part["validation"]["text"]
    assert part["test"]["value"] is None
    assert part["test"]["text"].startswith("not evaluated on test: run `mlops-dl evaluate ")
    assert not figures.comparable(full["validation"], part["validation"])


def test_one_chart_measure_and_never_one_series_for_two_n(tiny_registry, tmp_path):
    """(c) the chart plots one measure; versions with different n are different series."""
    reg = _registry(tiny_registry, tmp_path)
    measure, points = figures.chart_measure({mv.version: figures.version_figures(mv)
                                             for mv in reg.list_versions("tiny")})
    assert measure.startswith("test macro-F1") and [p["version"] for p in points] == [1]
    by_series = {}
    for p in points:
        by_series.setdefault(p["metric"], set()).add(p["n"])
    assert all(len(ns) == 1 for ns in by_series.values())
    only_validation = {1: {"test": {"value": None}, "validation": {"value": 0.5, "n": 100, "complete": True}},
                       2: {"test": {"value": None}, "validation": {"value": 0.6, "n": 80, "complete": True}}}
    measure, points = figures.chart_measure(only_validation)
    assert measure.startswith("validation macro-F1") and len({p["metric"] for p in points}) == 2


def test_registry_compare_prints_the_verdict_first(tiny_registry, tmp_path, capsys):
    """(c) `registry compare` starts with one verdict line on shared texts; a partial figure
    has no delta beside a full one."""
    reg = _registry(tiny_registry, tmp_path)
    capsys.readouterr()
    assert main(["registry", "compare", "tiny:1", "tiny:2", "--registry", str(reg.root)]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert lines[0].startswith("no significant difference between tiny:1 and tiny:2: +0.00 pts "
                               "accuracy on "), lines[0]
    assert "shared validation texts (McNemar p = 1)" in lines[0]
    assert main(["registry", "compare", "tiny:1", "tiny:2", "--registry", str(reg.root),
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    n_row = result["metrics"]["validation"][0]
    assert n_row["key"] == "n (PyTorch)" and "not comparable" in n_row["note"]
    assert all(r["delta"] is None for r in result["metrics"]["validation"])


def test_registry_list_says_split_n_and_what_computed(tiny_registry, tmp_path, capsys):
    reg = _registry(tiny_registry, tmp_path)
    capsys.readouterr()
    assert main(["registry", "list", "tiny", "--registry", str(reg.root), "--json"]) == 0
    rows = {r["ref"]: r for r in json.loads(capsys.readouterr().out)}
    assert "(test, n=" in rows["tiny:1"]["test_figure"] and "PyTorch" in rows["tiny:1"]["test_figure"]
    assert rows["tiny:2"]["test_figure"].startswith("not evaluated on test")
    assert "partial: n=" in rows["tiny:2"]["val_figure"]
