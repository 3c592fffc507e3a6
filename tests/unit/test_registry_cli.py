"""`mlops-dl registry ...` on the tiny exported registry: listings, compare, errors."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from mlops_dl.cli import main
from mlops_dl.gates.compare import headline_bench
from mlops_dl.registry import open_registry
from tests.unit.monitor_helpers import bundle_copy


@pytest.fixture
def two_versions(tiny_registry, tmp_path) -> Path:
    """A copy of the tiny registry plus tiny:2, whose int8 predictions differ on 4 texts."""
    root = tmp_path / "registry"
    shutil.copytree(tiny_registry, root)
    bundle = bundle_copy(root / "tiny" / "version-1", tmp_path / "bundle")
    samples = bundle / "eval_samples.jsonl"
    rows = [json.loads(x) for x in samples.read_text().splitlines()]
    labels = ["negative", "neutral", "positive"]
    right = [r for r in rows if r["pred_by_variant"]["int8"] == r["label"]]
    for row in right[:4]:  # four right answers made wrong
        row["pred_by_variant"]["int8"] = labels[(labels.index(row["label"]) + 1) % 3]
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    open_registry(root).register("tiny", bundle)
    return root


def run(capsys, *args) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_list_show_tags_promote(two_versions, capsys, monkeypatch):
    monkeypatch.setenv("MLOPS_DL_REGISTRY", str(two_versions))
    code, out, _ = run(capsys, "registry", "list", "--json")
    assert code == 0 and [r["ref"] for r in json.loads(out)] == ["tiny:2"]
    code, out, _ = run(capsys, "registry", "list", "tiny", "--json")
    assert [r["ref"] for r in json.loads(out)] == ["tiny:1", "tiny:2"]
    assert run(capsys, "registry", "promote", "tiny:1", "production")[0] == 0
    code, out, _ = run(capsys, "registry", "show", "tiny@production", "--json")
    shown = json.loads(out)
    assert shown["ref"] == "tiny:1" and shown["aliases"] == ["production"]
    assert shown["validation"]["variants"]["int8"]["passed"]
    assert run(capsys, "registry", "tags", "tiny:1", "--set", "owner=ml", "--set", "ticket=42")[0] == 0
    code, out, _ = run(capsys, "registry", "tags", "tiny:1", "--unset", "ticket", "--json")
    assert json.loads(out) == {"owner": "ml"}
    code, out, _ = run(capsys, "registry", "show", "tiny:1")  # the rich rendering
    assert code == 0 and "export validation" in out


def test_compare_reports_agreement_and_mcnemar(two_versions, capsys, tmp_path):
    open_registry(two_versions).attach("tiny:2", "bench.json", {
        "engines": {"onnx-int8": {"batch1": {"p50_ms": 5.0}}}, "ratios": {"targets": {"x": 1}}})
    png = tmp_path / "chart.png"
    code, out, _ = run(capsys, "registry", "compare", "tiny:1", "tiny:2", "-r", str(two_versions),
                       "--json", "--png", str(png))
    assert code == 0 and png.stat().st_size > 1000
    result = json.loads(out)
    samples = result["samples"]
    assert result["variant"] == "int8" and samples["n_shared"] == 45
    assert samples["agreement"] == pytest.approx(41 / 45)
    assert (samples["mcnemar"]["a_right_b_wrong"], samples["mcnemar"]["a_wrong_b_right"]) == (4, 0)
    assert 0 < samples["mcnemar"]["p_value"] <= 1
    assert {r["key"] for r in result["per_class_f1"]} == {"negative", "neutral", "positive"}
    assert result["a"]["size_bytes"]["int8"] > 0
    bench = {r["key"]: r for r in result["bench"]}
    assert bench["engines.onnx-int8.batch1.p50_ms"] == {
        "key": "engines.onnx-int8.batch1.p50_ms", "a": None, "b": 5.0, "delta": None}
    assert [r["key"] for r in headline_bench(result["bench"])] == ["engines.onnx-int8.batch1.p50_ms"]
    code, out, _ = run(capsys, "registry", "compare", "tiny:1", "tiny:2", "-r", str(two_versions))
    assert code == 0 and "McNemar" in out


def test_verify_and_delete(two_versions, capsys):
    r = str(two_versions)
    assert run(capsys, "registry", "verify", "-r", r)[0] == 0
    target = two_versions / "tiny" / "version-2" / "model.int8.onnx"
    os.chmod(target, 0o644)
    with open(target, "r+b") as f:
        f.truncate(100)
    code, out, err = run(capsys, "registry", "verify", "-r", r)
    assert code == 2 and "tiny:1: ok" in out and "model.int8.onnx" in out and "Traceback" not in err
    code, _, err = run(capsys, "registry", "show", "tiny:2", "-r", r)
    assert code == 2 and "failed verification" in err
    assert run(capsys, "registry", "delete", "tiny:2", "-r", r, "--yes")[0] == 0
    assert run(capsys, "registry", "verify", "tiny", "-r", r)[0] == 0


@pytest.mark.parametrize("args, message", [
    (["registry", "show", "../etc"], "invalid model name"),
    (["registry", "show", "nope:1"], "no model named 'nope'"),
    (["registry", "show", "tiny:9"], "no version 9"),
    (["registry", "show", "tiny:\u00b2"], "invalid version"),
    (["registry", "show", "tiny:\u0661"], "invalid version"),
    (["registry", "promote", "tiny:1", "a/b"], "invalid alias"),
    (["registry", "delete", "tiny", "--yes"], "explicit version"),
    (["registry", "compare", "tiny:1", "tiny@missing"], "no alias 'missing'"),
])
def test_cli_errors_exit_nonzero_without_traceback(tiny_registry, capsys, args, message):
    code, _, err = run(capsys, *args, "--registry", str(tiny_registry))
    assert code != 0 and message in err and "Traceback" not in err
