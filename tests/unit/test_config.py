"""The config loader: every shipped config loads; bad keys, types, overrides name file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_dl import config
from mlops_dl.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
ALL_YAML = sorted((REPO / "configs").glob("*.yaml"))
CANVASES = [p for p in ALL_YAML if p.name.endswith("canvas.yaml")]  # the ML canvas schema
CONFIGS = [p for p in ALL_YAML if p not in CANVASES]  # the run-config schema

MINIMAL = """\
data:
  name: t
  sources:
    - kind: file
      path: d.csv
  labels: [neg, pos]
"""


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_there_are_shipped_configs():
    assert {"quickstart.yaml", "tweeteval.yaml"} <= {p.name for p in CONFIGS}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_loads(path):
    cfg = config.load(path)
    assert cfg.data.name and cfg.data.sources and len(cfg.data.labels) >= 2
    assert isinstance(cfg.train.lr, float)
    for name in cfg.data.label_map.values():
        assert name in cfg.data.labels
    # the resolved config round-trips through save -> load
    assert config.from_dict(config.to_dict(cfg)) == cfg


@pytest.mark.parametrize("path", CANVASES, ids=lambda p: p.name)
def test_every_shipped_canvas_loads(path):
    from mlops_dl.gates.canvas import load_canvas

    canvas = load_canvas(path)
    assert canvas.labels and canvas.sha256


def test_every_yaml_in_configs_is_checked():
    assert CANVASES and len(CONFIGS) + len(CANVASES) == len(ALL_YAML)


def test_save_and_load_round_trip(tmp_path):
    cfg = config.load(CONFIGS[0], ["train.lr=3e-5"])
    out = tmp_path / "resolved.yaml"
    config.save(cfg, out)
    assert config.load(out) == cfg and not list(tmp_path.glob("*.tmp"))


def test_yaml_float_without_dot_is_a_float(tmp_path):
    cfg = config.load(write(tmp_path, MINIMAL + "train:\n  lr: 5e-5\n  weight_decay: 1E-2\n"))
    assert cfg.train.lr == pytest.approx(5e-5) and isinstance(cfg.train.lr, float)
    assert cfg.train.weight_decay == pytest.approx(0.01)
    assert config.load(write(tmp_path, MINIMAL), ["train.lr=2e-5"]).train.lr == pytest.approx(2e-5)


def test_unknown_key_names_file_and_key(tmp_path):
    path = write(tmp_path, MINIMAL + "  clean:\n    strip_emoji: true\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: unknown key data\.clean\.strip_emoji"):
        config.load(path)


def test_unknown_section(tmp_path):
    with pytest.raises(ConfigError, match=r"c\.yaml: unknown key trainer"):
        config.load(write(tmp_path, MINIMAL + "trainer: {}\n"))


def test_wrong_type_names_file_and_key(tmp_path):
    path = write(tmp_path, MINIMAL + "  clean:\n    max_chars: lots\n")
    msg = r"c\.yaml: key data\.clean\.max_chars: expected an integer"
    with pytest.raises(ConfigError, match=msg):
        config.load(path)
    path = write(tmp_path, MINIMAL + "train:\n  lr: fast\n")
    with pytest.raises(ConfigError, match=r"key train\.lr: expected a number"):
        config.load(path)
    path = write(tmp_path, MINIMAL + "serve:\n  max_batch_tokens: 4k\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: key serve\.max_batch_tokens: expected an integer"):
        config.load(path)


def test_wrong_type_inside_a_list(tmp_path):
    path = write(tmp_path, MINIMAL.replace("kind: file", "kind: ftp"))
    with pytest.raises(ConfigError, match=r"key data\.sources\[0\]\.kind: expected one of"):
        config.load(path)


def test_missing_required_key(tmp_path):
    with pytest.raises(ConfigError, match=r"missing required key data\.labels"):
        config.load(write(tmp_path, MINIMAL.replace("  labels: [neg, pos]\n", "")))


@pytest.mark.parametrize("override, message", [
    ("train.lr", r"--set 'train.lr': expected KEY=VALUE"),
    ("=3", r"expected KEY=VALUE"),
    ("train.nope=1", r"unknown key train\.nope"),
    ("train.epochs=three", r"key train\.epochs: expected an integer"),
    ("data.name.x=1", r"--set data\.name\.x: name is not a (config )?section"),
    ("data.split.seed=[1", r"--set data\.split\.seed: value '\[1' is not valid YAML"),
])
def test_bad_overrides(tmp_path, override, message):
    with pytest.raises(ConfigError, match=message):
        config.load(write(tmp_path, MINIMAL), [override])


def test_override_sets_nested_values(tmp_path):
    cfg = config.load(write(tmp_path, MINIMAL), ["data.clean.mask_pii=false",
                                                 "data.split.test_fraction=0.25",
                                                 "data.output_dir=/tmp/x"])
    assert cfg.data.clean.mask_pii is False and cfg.data.split.test_fraction == 0.25
    assert cfg.data.output_dir == "/tmp/x"


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        config.load(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match=r"c\.yaml: not valid YAML"):
        config.load(write(tmp_path, "data: [unclosed\n"))
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        config.load(write(tmp_path, "- a\n- b\n"))


def test_replace_validates(tmp_path):
    cfg = config.load(write(tmp_path, MINIMAL))
    assert config.replace(cfg, {"data.split.seed": 7}).data.split.seed == 7
    with pytest.raises(ConfigError, match=r"data\.split\.seed: expected an integer"):
        config.replace(cfg, {"data.split.seed": "x"})


def test_config_imports_nothing_of_ours_but_errors():
    """``config`` is imported by every stage, so it may import only itself, ``errors`` and ``files``."""
    import ast

    allowed = ("mlops_dl.config", "mlops_dl.errors", "mlops_dl.files")
    for path in sorted((REPO / "mlops_dl" / "config").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] if node.level == 0 else ["<relative>"]
                if node.module == "mlops_dl":
                    names = [f"mlops_dl.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                ours = name.startswith("mlops_dl") or name == "<relative>"
                assert not ours or name.startswith(allowed), f"{path.name} imports {name}"


def test_post_init_errors_name_the_file(tmp_path):
    path = write(tmp_path, MINIMAL + "search:\n  n_trials: 0\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: search\.n_trials: must be >= 1"):
        config.load(path)


@pytest.mark.parametrize("section,message", [
    ("train:\n  lr: 0\n", r"c\.yaml: train\.lr: must be > 0, got 0\.0"),
    ("train:\n  epochs: 0\n", r"c\.yaml: train\.epochs: must be > 0 \(or set train\.max_steps\)"),
    ("export:\n  batch_size: 0\n", r"c\.yaml: export\.batch_size: must be >= 1, got 0"),
    ("serve:\n  max_batch_size: 0\n", r"c\.yaml: serve\.max_batch_size: must be >= 1, got 0"),
    ("serve:\n  max_batch_tokens: -1\n", r"c\.yaml: serve\.max_batch_tokens: must be >= 0 \(0 = fixed batches\), got -1"),
    ("serve:\n  max_batch_texts: 0\n", r"c\.yaml: serve\.max_batch_texts: must be >= 1, got 0"),
    ("serve:\n  port: 70000\n", r"c\.yaml: serve\.port: must be in \[0, 65535\]"),
])  # fmt: skip
def test_range_checks_fail_at_load_naming_file_and_key(tmp_path, section, message):
    with pytest.raises(ConfigError, match=message):
        config.load(write(tmp_path, MINIMAL + section))


def test_range_checks_apply_to_overrides_and_to_dataclasses_built_in_code(tmp_path):
    path = write(tmp_path, MINIMAL)
    with pytest.raises(ConfigError, match=r"c\.yaml: train\.warmup_ratio: must be in \[0, 1\)"):
        config.load(path, ["train.warmup_ratio=1"])
    with pytest.raises(ConfigError, match=r"^grad_accum: must be >= 1, got 0$"):
        config.TrainConfig(grad_accum=0)
    assert config.load(path, ["train.epochs=0", "train.max_steps=5"]).train.max_steps == 5
