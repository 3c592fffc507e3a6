"""One sign convention for the macro-F1 change of an ONNX variant (variant minus PyTorch, in
points, '-0.95 pts' = worse), and every F1 labelled with the engine that measured it."""

from __future__ import annotations

import json
import shutil

from mlops_dl.cli import main
from mlops_dl.gates.accept import summary_rows
from mlops_dl.gates.promote import f1_versus
from mlops_dl.metrics import engine_label, f1_change_points, format_f1_change
from mlops_dl.registry import open_registry
from tests.unit.monitor_helpers import bundle_copy


def test_change_is_variant_minus_pytorch_for_new_and_old_records():
    assert f1_change_points({"f1_change_points": -0.95, "f1_drop_points": 0.95}) == -0.95
    assert f1_change_points({"f1_drop_points": 0.95}) == -0.95  # validation.json of old versions
    assert f1_change_points({}) is None
    assert format_f1_change(-0.95) == "-0.95 pts" and format_f1_change(0.1) == "+0.10 pts"
    assert engine_label("int8") == "ONNX int8" and engine_label(None) == "PyTorch"


def test_registry_show_labels_each_f1_and_signs_the_change(tiny_registry, tmp_path, capsys):
    root = tmp_path / "registry"
    shutil.copytree(tiny_registry, root)
    bundle = bundle_copy(root / "tiny" / "version-1", tmp_path / "bundle")
    path = bundle / "validation.json"
    val = json.loads(path.read_text())
    int8 = val["variants"]["int8"]
    int8.pop("f1_change_points", None)
    int8["f1_drop_points"] = 0.95  # an older version: the drop, PyTorch minus int8
    path.write_text(json.dumps(val))
    ref = open_registry(root).register("tiny", bundle).ref
    capsys.readouterr()
    assert main(["registry", "show", ref, "--registry", str(root)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "-0.95 pts" in out and "F1 drop" not in out
    assert "ΔF1" in out  # the column heading (F1_CHANGE_HEAD), however the table wraps it
    assert "ONNX int8" in out and "PyTorch run (before export): val macro-F1" in out


def test_accept_and_promote_lines_name_the_engine():
    result = {"engine": "onnxruntime", "variant": "int8-static", "precision": "int8",
              "behaviour": {"gate": True, "checks": []},
              "checks": [{"name": "macro_f1", "value": 0.61, "threshold": 0.6, "passed": True}]}
    assert summary_rows(result)[0][0] == "macro_f1 (onnxruntime int8-static)"
    line = f1_versus({"challenger_macro_f1": 0.61, "champion_macro_f1": 0.63, "delta_macro_f1": -0.02,
                      "challenger_engine": "ONNX int8", "champion_engine": "ONNX fp32", "n_test": 100})
    assert line == ("test macro-F1 (ONNX int8) 0.6100 vs champion 0.6300 (ONNX fp32): "
                    "ΔF1 -2.00 pts on 100 shared test texts")
