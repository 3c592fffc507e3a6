"""The registry owns its layout and its root: ModelVersion readers, the audit log, alias removal,
one root resolver (flag > env > project default > ./registry), and reference stats written by
the code before the one-format change still loading."""

from __future__ import annotations

import json
import shutil

import pytest

from mlops_dl.cli import main
from mlops_dl.errors import RegistryError
from mlops_dl.registry import layout, open_registry, Registry, resolve_root
from tests.unit.serve_helpers import fresh_registry


# ----------------------------------------------------------------------------- root resolver
def test_root_precedence_flag_env_project_default(tmp_path, monkeypatch):
    monkeypatch.delenv("MLOPS_DL_REGISTRY", raising=False)
    assert resolve_root(None, cwd=tmp_path) == "registry"
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n[tool.mlops-dl]\nregistry = "py/reg"\n')
    assert resolve_root(None, cwd=tmp_path) == str(tmp_path / "py" / "reg")
    (tmp_path / "mlops-dl.yaml").write_text("registry: shared/reg  # the team's\n")
    assert resolve_root(None, cwd=tmp_path) == str(tmp_path / "shared" / "reg")
    (tmp_path / "mlops-dl.yaml").write_text("registry: /abs/reg\n")
    assert resolve_root("", cwd=tmp_path) == "/abs/reg"
    monkeypatch.setenv("MLOPS_DL_REGISTRY", "/env/reg")
    assert resolve_root(None, cwd=tmp_path) == "/env/reg"
    assert resolve_root(tmp_path / "flag", cwd=tmp_path) == str(tmp_path / "flag")


def test_bad_project_files_are_named(tmp_path, monkeypatch):
    monkeypatch.delenv("MLOPS_DL_REGISTRY", raising=False)
    (tmp_path / "mlops-dl.yaml").write_text("registry: [a, b]\n")
    with pytest.raises(RegistryError, match=r"mlops-dl.yaml: registry must be a non-empty string"):
        resolve_root(None, cwd=tmp_path)
    (tmp_path / "mlops-dl.yaml").write_text("- just\n- a list\n")
    with pytest.raises(RegistryError, match="mlops-dl.yaml: expected a mapping"):
        resolve_root(None, cwd=tmp_path)
    (tmp_path / "mlops-dl.yaml").unlink()
    (tmp_path / "pyproject.toml").write_text("[tool.mlops-dl\n")
    with pytest.raises(RegistryError, match="pyproject.toml: not valid TOML"):
        resolve_root(None, cwd=tmp_path)


def test_cli_uses_the_project_default_registry(tiny_registry, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("MLOPS_DL_REGISTRY", raising=False)
    fresh_registry(tiny_registry, tmp_path / "team" / "registry")
    project = tmp_path / "project"
    project.mkdir()
    (project / "mlops-dl.yaml").write_text("registry: ../team/registry\n")
    monkeypatch.chdir(project)
    capsys.readouterr()
    assert main(["registry", "list", "--json"]) == 0
    assert [r["ref"] for r in json.loads(capsys.readouterr().out)] == ["tiny:1"]


def test_pipeline_registers_benches_and_promotes_in_the_config_registry(tmp_path, monkeypatch):
    from mlops_dl.config import load as load_config
    from mlops_dl.pipeline import new_run

    monkeypatch.setenv("MLOPS_DL_REGISTRY", str(tmp_path / "env"))
    cfg = load_config("configs/quickstart.yaml", [f"export.registry={tmp_path / 'cfg'}"])
    assert new_run(cfg, "configs/quickstart.yaml").registry.root == tmp_path / "cfg"
    run = new_run(cfg, "configs/quickstart.yaml", registry=str(tmp_path / "flag"))
    assert run.registry.root == tmp_path / "flag"  # --registry wins over the config
    plain = load_config("configs/quickstart.yaml", [])
    assert new_run(plain, "configs/quickstart.yaml").registry.root == tmp_path / "env"


# ----------------------------------------------------------------------------- readers
def test_model_version_readers(tiny_registry):
    mv = open_registry(tiny_registry).get("tiny:1")
    assert mv.has(layout.LINEAGE) and not mv.has("nope.json")
    assert mv.read_json("nope.json") is None and mv.read_jsonl("nope.jsonl") is None
    assert mv.lineage["run_id"] == "tiny-run"
    assert mv.read_json(layout.METRICS)["test"]["macro_f1"] >= 0
    assert len(mv.read_jsonl(layout.EVAL_SAMPLES)) == 45
    files = mv.files()
    assert files[layout.VARIANT_FILES["int8"]] == mv.size(layout.VARIANT_FILES["int8"]) > 0
    assert layout.CHECKSUMS in files and "attachments" not in files
    assert mv.attachments() == [layout.CALIBRATION, layout.REFERENCE_STATS]  # both written by export
    with pytest.raises(RegistryError, match="points outside the version"):
        mv.read_text("../last_version")
    with pytest.raises(RegistryError, match="has no file 'nope.json'"):
        mv.file("nope.json")


def test_audit_log_appends_under_the_registry(tmp_path, tiny_registry):
    reg = fresh_registry(tiny_registry, tmp_path / "r")
    assert reg.read_audit("tiny") == []
    reg.append_audit("tiny", {"decision": "refused", "n": 1})
    reg.append_audit("tiny", {"decision": "promoted", "n": 2})
    assert [r["decision"] for r in reg.read_audit("tiny")] == ["refused", "promoted"]
    assert (tmp_path / "r" / "tiny" / layout.AUDIT_LOG).is_file()  # the on-disk format stays
    with pytest.raises(RegistryError, match="invalid model name"):
        reg.append_audit("../x", {})


def test_alias_remove_cli(tmp_path, tiny_registry, capsys):
    reg = fresh_registry(tiny_registry, tmp_path / "r", alias="staging")
    root = str(reg.root)
    capsys.readouterr()
    assert main(["registry", "alias-remove", "tiny@staging", "--registry", root]) == 0
    assert "removed tiny@staging (was tiny:1)" in capsys.readouterr().out
    assert reg.aliases("tiny") == {} and reg.get("tiny:1")  # the version stays
    assert main(["registry", "alias-remove", "tiny@staging", "--registry", root]) != 0
    assert "tiny has no alias 'staging' (aliases: none)" in capsys.readouterr().err
    assert main(["registry", "alias-remove", "tiny:1", "--registry", root]) != 0
    assert "expected NAME@ALIAS" in capsys.readouterr().err


# ----------------------------------------------------------------------------- reference stats
OLD_EXPORT_STATS = {  # what export/validate.py wrote into version-N/reference_stats.json before
    "variant": "int8", "n": 3, "labels": ["negative", "neutral", "positive"],
    "predicted_label_distribution": {"negative": 0.0, "neutral": 1.0, "positive": 0.0},
    "gold_label_distribution": {"negative": 0.34, "neutral": 0.33, "positive": 0.33},
    "confidence_histogram": {"bin_edges": [0.0, 0.5, 1.0], "counts": [3, 0]},
    "token_length_histogram": {"bin_edges": [0.0, 5.0], "counts": [3]},
    "char_length_histogram": {"bin_edges": [0.0, 9.0], "counts": [3]},
    "mean_confidence": 0.4, "mean_token_length": 4.0,
}


def _old_style_version(tiny_registry, tmp_path, attachment: dict | None) -> Registry:
    """tiny:1 as the code before wrote it: the export-format file inside the version."""
    bundle = tmp_path / "bundle"
    src = open_registry(tiny_registry).get("tiny:1")
    shutil.copytree(src.file(layout.MODEL_JSON).parent, bundle,
                    ignore=shutil.ignore_patterns(layout.CHECKSUMS, "attachments", "tags"))
    for p in [bundle, *bundle.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    (bundle / "reference_stats.json").write_text(json.dumps(OLD_EXPORT_STATS, indent=2) + "\n")
    reg = open_registry(tmp_path / "old")
    reg.register("tiny", bundle)
    if attachment is not None:
        reg.attach("tiny:1", "reference_stats.json", attachment)
    return reg


def test_old_export_format_file_still_loads(tiny_registry, tmp_path):
    from mlops_dl.monitor import reference_for
    from mlops_dl.monitor.reference import SCHEMA
    from mlops_dl.runtime import from_version
    reg = _old_style_version(tiny_registry, tmp_path, attachment=None)
    mv = reg.get("tiny:1")
    stats = reference_for(reg, mv, from_version(mv, "cpu", "int8"))
    assert stats["schema"] == SCHEMA and stats["n"] == 45  # from eval_samples, not the old file
    assert "eval_samples.jsonl" in stats["source"] and "label_distribution" in stats
    assert reg.get("tiny:1").attachment("reference_stats.json") == stats  # stored once


def test_old_monitor_attachment_is_used_as_is(tiny_registry, tmp_path):
    from mlops_dl.monitor import reference_for
    from mlops_dl.runtime import from_version
    old = open_registry(tiny_registry).get("tiny:1").attachment("reference_stats.json")
    old = {**old, "source": "written by the monitor before"}
    reg = _old_style_version(tiny_registry, tmp_path, attachment=old)
    mv = reg.get("tiny:1")
    assert reference_for(reg, mv, from_version(mv, "cpu", "int8")) == old
