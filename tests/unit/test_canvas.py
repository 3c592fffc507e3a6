"""The ML canvas: shipped files load, validation errors name the file and key, `canvas show`."""

from __future__ import annotations

import json

import pytest
import yaml

from mlops_dl.gates.canvas import check_data_config, load_canvas, model_name
from mlops_dl.cli import main
from mlops_dl.errors import ConfigError
from tests.unit.monitor_helpers import REPO, canvas_file


@pytest.mark.parametrize("name", ["canvas.yaml", "quickstart-canvas.yaml"])
def test_shipped_canvases_load_and_match_their_data_config(name):
    c = load_canvas(REPO / "configs" / name)
    cfg = check_data_config(c)
    assert c.labels == cfg.data.labels
    assert model_name(c) == (cfg.export.name or cfg.data.name)
    assert c.monitoring.psi_warn < c.monitoring.psi_alarm and len(c.sha256) == 64


def _raw(tmp_path, **changes) -> dict:
    raw = yaml.safe_load(canvas_file(tmp_path).read_text())
    raw.update(changes)
    return raw


def _load(tmp_path, raw) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    load_canvas(path)


@pytest.mark.parametrize("change,match", [
    ({"colour": "red"}, r"bad.yaml: unknown key colour"),
    ({"offline": {"treshold": 0.6}}, r"unknown key offline.treshold"),
    ({"offline": {"threshold": "high"}}, r"key offline.threshold: expected a number"),
    ({"offline": {"metric": "auc"}}, r"key offline.metric: expected one of"),
    ({"offline": {"threshold": 1.5}}, r"bad\.yaml: offline\.threshold: must be within \[0, 1\], got 1\.5"),
    ({"monitoring": {"psi_warn": 0.3, "psi_alarm": 0.2}}, r"bad\.yaml: monitoring\.psi_warn: need 0 < psi_warn"),
    ({"feedback": {"uncertainty": "random"}}, r"key feedback.uncertainty"),
    ({"feedback": {"queue_size": 0}}, r"bad\.yaml: feedback\.queue_size: must be > 0, got 0"),
    ({"feedback": {"dataset": "../escape"}}, r"bad\.yaml: feedback\.dataset: must be a plain name"),
    ({"behaviour": {"positive_label": "joy", "negation": {"enabled": True}}},
     r"bad\.yaml: behaviour\.positive_label: must be one of labels"),
    ({"behaviour": {"mention": {"enabled": "sometimes"}}}, r"key behaviour.mention.enabled"),
    ({"behaviour": {"url": {"pool": ["<url>"]}}}, r"bad\.yaml: behaviour\.url\.pool: needs two"),
    ({"behaviour": {"name": {"min_rate": 2.0}}}, r"bad\.yaml: behaviour\.name\.min_rate"),
    ({"behaviour": {"name": {"templates": ["no slot"]}}}, r"bad\.yaml: behaviour\.name\.templates"),
    ({"behaviour": {"negation": {"pairs": ["I love {x}"]}}}, r"bad\.yaml: behaviour\.negation\.pairs"),
    ({"behaviour": {"min_cases": 0}}, r"bad\.yaml: behaviour\.min_cases: must be > 0"),
    ({"monitoring": {"low_margin": 1.5}}, r"bad\.yaml: monitoring\.low_margin: must be within"),
    ({"labels": ["a"]}, r"bad\.yaml: labels: need two or more distinct"),
    ({"latency": {"p95_ms": -1}}, r"bad\.yaml: latency\.p95_ms: must be > 0, got -1"),
    ({"sha256": "abc"}, r"unknown key sha256"),
])
def test_invalid_canvas_names_file_and_key(tmp_path, change, match):
    with pytest.raises(ConfigError, match=match):
        _load(tmp_path, _raw(tmp_path, **change))


def test_missing_required_key_and_missing_file(tmp_path):
    raw = _raw(tmp_path)
    del raw["task"]
    with pytest.raises(ConfigError, match="missing required key task"):
        _load(tmp_path, raw)
    with pytest.raises(ConfigError, match="canvas file not found"):
        load_canvas(tmp_path / "nope.yaml")


def test_data_config_labels_must_match(tmp_path):
    c = load_canvas(canvas_file(tmp_path, labels=["neutral", "negative", "positive"]))
    with pytest.raises(ConfigError, match="differ from data.labels"):
        check_data_config(c)
    c = load_canvas(canvas_file(tmp_path, data_config="missing.yaml"))
    with pytest.raises(ConfigError, match="key data_config: file missing.yaml not found"):
        check_data_config(c)


def test_canvas_show_cli(tmp_path, capsys):
    assert main(["canvas", "show", "--canvas", str(REPO / "configs" / "canvas.yaml")]) == 0
    out = capsys.readouterr().out
    assert "macro_f1 >= 0.60" in out and "PSI warn 0.1" in out
    assert main(["canvas", "show", "--canvas", str(canvas_file(tmp_path)), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["model"] == "tiny" and len(shown["sha256"]) == 64
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nunknown: 1\n")
    assert main(["canvas", "show", "--canvas", str(bad)]) == 2
    assert "unknown key unknown" in " ".join(capsys.readouterr().err.split())
