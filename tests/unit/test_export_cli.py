"""`mlops-dl export`: flags become config overrides; errors exit non-zero without traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops_dl.cli import main
from mlops_dl.registry import open_registry
def test_cli_export_without_optimize_or_int8(tiny_run_dir, tmp_path, capsys):
    root = tmp_path / "registry"
    code = main(["export", str(tiny_run_dir), "--name", "plain", "--no-optimize",
                 "--quantize", "none", "--registry", str(root), "--alias", "staging", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ref"] == "plain:1"
    mv = open_registry(root).get("plain@staging")
    assert mv.meta["variants"] == {"fp32": "model.onnx"} and mv.meta["optimized"] is False
    assert out["validation"]["graphs"].keys() == {"exported"}


def test_cli_export_errors_exit_nonzero(tmp_path, capsys):
    assert main(["export", str(tmp_path / "missing-run"), "--registry", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "not a complete training run dir" in err and "Traceback" not in err
    assert main(["export", str(tmp_path), "--quantize", "int4"]) == 2
    assert "--quantize 'int4'" in capsys.readouterr().err


def _no_work(*args, **kwargs):
    raise AssertionError("export work started before the name and alias were checked")


def test_bad_name_or_alias_refused_before_any_work(tiny_run_dir, tmp_path, capsys, monkeypatch):
    """`--name ../x` used to fail after the whole export; `--alias ../evil` after registering."""
    import transformers

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", _no_work)
    monkeypatch.setattr(transformers.AutoModelForSequenceClassification, "from_pretrained", _no_work)
    root = tmp_path / "registry"
    for flags, message in ((["--name", "../x"], "invalid model name '../x'"),
                           (["--alias", "../evil"], "invalid alias '../evil'"),
                           (["--alias", "prod\n"], "invalid alias 'prod\\n'"),
                           (["--alias", "latest"], "reserved")):
        code = main(["export", str(tiny_run_dir), "--registry", str(root), *flags])
        err = capsys.readouterr().err
        assert code == 2 and message in err and "Traceback" not in err
    assert open_registry(root).list_models() == []


def test_pipeline_checks_registry_names_before_the_data_step(tmp_path):
    from mlops_dl import config as config_mod
    from mlops_dl.errors import RegistryError
    from mlops_dl.pipeline import run_pipeline

    base = config_mod.load("configs/quickstart.yaml")
    for values, message in (({"export.name": "../x"}, "export.name"),
                            ({"pipeline.canvas": "c.yaml", "pipeline.promote_to": "a/b"},
                             "pipeline.promote_to")):
        cfg = config_mod.replace(base, {"pipeline.state_dir": str(tmp_path / "state"), **values})
        with pytest.raises(RegistryError, match=message):
            run_pipeline(cfg, tmp_path / "c.yaml", say=_no_work)
    assert not (tmp_path / "state").exists()


def test_pipeline_export_step_follows_the_pipeline_config_not_the_runs(tmp_path, monkeypatch):
    """`pipeline --set export.max_f1_drop=1.0` reaches the export of an existing run."""
    from mlops_dl import config as config_mod
    from mlops_dl import pipeline
    from mlops_dl.export import run as export_mod
    from mlops_dl.train import rundir

    run_dir = Path(__file__).resolve().parents[1] / "fixtures" / "old" / "run"
    stored = rundir.read_config(run_dir).export
    cfg = config_mod.replace(rundir.read_config(run_dir), {
        "export.max_f1_drop": stored.max_f1_drop + 0.75, "export.validation_samples": 123,
        "pipeline.state_dir": str(tmp_path / "state")})
    seen = {}

    def fake_export(run_dir, name="", registry=None, overrides=(), log=None, alias=""):
        seen["export"] = rundir.read_run(run_dir, overrides).cfg.export
        raise pipeline.MlopsError("stop after the export config was read")

    monkeypatch.setattr(export_mod, "export_run", fake_export)
    p = pipeline.new_run(cfg, tmp_path / "c.yaml", registry=str(tmp_path / "reg"))
    p.run_dir = run_dir
    with pytest.raises(pipeline.MlopsError, match="stop after"):
        pipeline._export(p)
    assert seen["export"] == cfg.export
    assert seen["export"].max_f1_drop == stored.max_f1_drop + 0.75
