"""`mlops-dl export`: flags become config overrides; errors exit non-zero without traceback."""

from __future__ import annotations

import json

from mlops_dl.cli import main
from mlops_dl.registry import Registry


def test_cli_export_without_optimize_or_int8(tiny_run_dir, tmp_path, capsys):
    root = tmp_path / "registry"
    code = main(["export", str(tiny_run_dir), "--name", "plain", "--no-optimize",
                 "--quantize", "none", "--registry", str(root), "--alias", "staging", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ref"] == "plain:1"
    mv = Registry(root).get("plain@staging")
    assert mv.meta["variants"] == {"fp32": "model.onnx"} and mv.meta["optimized"] is False
    assert out["validation"]["graphs"].keys() == {"exported"}


def test_cli_export_errors_exit_nonzero(tmp_path, capsys):
    assert main(["export", str(tmp_path / "missing-run"), "--registry", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "not a complete training run dir" in err and "Traceback" not in err
    assert main(["export", str(tmp_path), "--quantize", "int4"]) == 2
    assert "--quantize 'int4'" in capsys.readouterr().err
