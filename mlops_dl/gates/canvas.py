"""The ML canvas: the business problem as a validated file that drives the gates.

configs/canvas.yaml names the task and labels, points at the data config, and holds the
acceptance thresholds (offline metric, per-class floor, latency budget, behavioural suite),
the promotion rule, the monitoring alarm levels and the feedback policy. It is validated by
the same machinery as every config: unknown keys, wrong types and out-of-range values (checked
in each dataclass's ``__post_init__``) raise a ConfigError naming file and key. Imports only
config and errors (torch-free).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal

import yaml

from mlops_dl import config as config_mod
from mlops_dl.config.coerce import check_ranges
from mlops_dl.runtime.variants import ENGINES, VARIANTS
from mlops_dl.errors import ConfigError

PROJECT_KEY = "canvas"  # the project default: `canvas: path` in mlops-dl.yaml
SHARE = "must be within [0, 1]"
PLAIN = "must be a plain name (no path separators)"


@dataclass
class OfflineGate:
    """Acceptance on the frozen test split."""

    # the offline metric gated on the frozen test split
    metric: Literal["macro_f1", "accuracy", "macro_precision", "macro_recall"] = "macro_f1"
    threshold: float = 0.60  # the metric must reach this
    per_class_f1_floor: float = 0.40  # no class F1 below this (0 = no floor)

    def __post_init__(self) -> None:
        check_ranges(self, [
            ("threshold", 0.0 <= self.threshold <= 1.0, SHARE),
            ("per_class_f1_floor", 0.0 <= self.per_class_f1_floor <= 1.0, SHARE),
        ])  # fmt: skip


@dataclass
class LatencyBudget:
    p95_ms: float = 50.0  # p95 latency at batch 1 on the target hardware
    hardware: str = "2-core x86 CPU"  # what the budget was agreed for (shown next to figures)
    # the servable that is served and gated (auto: the fastest accepted one on this machine;
    # names from mlops_dl.runtime.variants)
    variant: Literal[(*VARIANTS, "auto")] = "int8"
    engine: Literal[(*ENGINES, "auto")] = "onnxruntime"  # the engine serving it
    measure_texts: int = 100  # texts timed when the version has no bench.json attachment

    def __post_init__(self) -> None:
        check_ranges(self, [("p95_ms", self.p95_ms > 0, "must be > 0"),
                            ("measure_texts", self.measure_texts > 0, "must be > 0")])


Switch = bool | Literal["auto"]


@dataclass
class InvarianceCheck:
    """Swap a name / @mention / URL for another from ``pool``: the label must not change."""

    enabled: Switch = "auto"  # auto: on when a test text contains one (names: one of pool)
    min_rate: float | None = None  # label kept this often (null: behaviour.invariance_min_rate)
    pool: list[str] | None = None  # replacements, two or more (null: the built-in list)
    append: bool = False  # also append one to texts without (off: only texts that have one)
    templates: list[str] | None = None  # extra cases, "{x}" = a pool item (null: built-in,
    #   six English sentences for names, none for mentions / URLs)

    def __post_init__(self) -> None:
        check_ranges(self, [
            ("min_rate", self.min_rate is None or 0.0 <= self.min_rate <= 1.0, SHARE),
            ("pool", self.pool is None or len(set(self.pool)) >= 2, "needs two or more distinct items"),
            ("templates", all("{x}" in t for t in self.templates or []), "each needs {x}"),
        ])  # fmt: skip


@dataclass
class NegationCheck:
    """Negating a positive statement must lower P(positive_label)."""

    enabled: Switch = "auto"  # auto: on when behaviour.positive_label is a label
    min_rate: float | None = None  # null: behaviour.negation_min_rate
    pairs: list[str] | None = None  # "I love {x} => I don't love {x}" (null: built-in English)
    objects: list[str] | None = None  # what {x} becomes (null: built-in, "this phone", ...)

    def __post_init__(self) -> None:
        pairs_ok = all(len(p.split(" => ")) == 2 and all("{x}" in h for h in p.split(" => "))
                       for p in self.pairs or [])
        check_ranges(self, [
            ("min_rate", self.min_rate is None or 0.0 <= self.min_rate <= 1.0, SHARE),
            ("pairs", pairs_ok, "each must read 'positive {x} => negated {x}'"),
        ])  # fmt: skip


@dataclass
class LabelTemplatesCheck:
    """Sentences written for each label (any label set): the model must predict that label."""

    enabled: Switch = "auto"  # auto: on when templates are given
    min_rate: float = 0.80  # share of the sentences predicted as their label
    # label -> sentences that state it, e.g. {joy: ["I am so happy about {x}"]}; "{x}" is
    #   filled with each of objects (a sentence without it is used once)
    templates: dict[str, list[str]] = field(default_factory=dict)
    objects: list[str] | None = None  # what {x} becomes (null: built-in, "the trip", ...)

    def __post_init__(self) -> None:
        check_ranges(self, [("min_rate", 0.0 <= self.min_rate <= 1.0, SHARE)])


@dataclass
class BehaviourSuite:
    """Behavioural tests through the ONNX Predictor (invariance + directional expectations)."""

    gate: bool = True  # failing checks block acceptance (False: reported only)
    invariance_min_rate: float = 0.90  # names / @mentions / URLs swapped: label kept this often
    negation_min_rate: float = 0.80  # "I love X" -> "I don't love X": P(positive) drops this often
    positive_label: str = "positive"  # the label whose probability negation must lower
    max_cases: int = 200  # test texts perturbed per invariance check
    min_cases: int = 10  # a check that builds fewer cases is reported, not gated
    name: InvarianceCheck = field(default_factory=InvarianceCheck)
    mention: InvarianceCheck = field(default_factory=InvarianceCheck)
    url: InvarianceCheck = field(default_factory=InvarianceCheck)
    negation: NegationCheck = field(default_factory=NegationCheck)
    label_templates: LabelTemplatesCheck = field(default_factory=LabelTemplatesCheck)

    def __post_init__(self) -> None:
        check_ranges(self, [
            ("invariance_min_rate", 0.0 <= self.invariance_min_rate <= 1.0, SHARE),
            ("negation_min_rate", 0.0 <= self.negation_min_rate <= 1.0, SHARE),
            ("max_cases", self.max_cases > 0, "must be > 0"),
            ("min_cases", self.min_cases > 0, "must be > 0"),
        ])  # fmt: skip


@dataclass
class PromotionRule:
    alias: str = "production"  # the alias whose version is the champion
    alpha: float = 0.05  # McNemar p-value below which a lower macro-F1 counts as worse

    def __post_init__(self) -> None:
        check_ranges(self, [("alpha", 0.0 <= self.alpha <= 1.0, SHARE)])


@dataclass
class MonitoringThresholds:
    psi_warn: float = 0.10  # PSI at or above this: warn
    psi_alarm: float = 0.25  # PSI at or above this: alarm
    p_value: float = 0.01  # chi-square / KS: below this the shift is significant
    low_margin: float = 0.20  # "low confidence": top-1 minus top-2 probability below this
    low_confidence_increase_alarm: float = 0.15  # alarm when the low-confidence share of the
    #   window exceeds the reference's (validation split at export) by more than this
    oov_increase_alarm: float = 0.02  # alarm when the [UNK] token share rises this much
    min_predictions: int = 100  # fewer in the window: statistics shown, no alarm raised
    false_alarm_rate: float = 0.01  # sequential alarms: chance that any fires on a stream that
    #   did not shift, however long it runs (split over the tests)
    sequential_tolerance: float = 0.05  # sequential alarms: a predicted-class share or the mean
    #   text-length rank may move this much, the expected accuracy drop this much, before a
    #   test is meant to fire
    min_slice_predictions: int = 30  # a time slice with fewer is greyed out, never alarmed on
    label_shift: Literal["em", "none"] = "em"  # estimated F1 re-weighted to the window's class
    #   prior (EM) or not

    def __post_init__(self) -> None:
        check_ranges(self, [
            ("false_alarm_rate", 0.0 < self.false_alarm_rate < 1.0, "must be within (0, 1)"),
            ("sequential_tolerance", 0.0 <= self.sequential_tolerance < 1.0, "must be within [0, 1)"),
            ("min_slice_predictions", self.min_slice_predictions > 0, "must be > 0"),
            ("p_value", 0.0 <= self.p_value <= 1.0, SHARE),
            ("low_margin", 0.0 <= self.low_margin <= 1.0, SHARE),
            ("low_confidence_increase_alarm", 0.0 <= self.low_confidence_increase_alarm <= 1.0, SHARE),
            ("oov_increase_alarm", 0.0 <= self.oov_increase_alarm <= 1.0, SHARE),
            ("psi_warn", 0 < self.psi_warn < self.psi_alarm,
             f"need 0 < psi_warn < psi_alarm ({self.psi_alarm})"),
        ])  # fmt: skip


@dataclass
class FeedbackPolicy:
    queue_size: int = 200  # rows per labelling queue
    # how the labelling queue ranks predictions (most uncertain first)
    uncertainty: Literal["margin", "entropy"] = "margin"
    min_new_labels: int = 500  # new gold labels before a retrain is worth it
    dir: str = "feedback"  # feedback datasets: <dir>/<dataset>/v-N.parquet + manifest.json
    dataset: str = "feedback"  # this canvas's feedback dataset name

    def __post_init__(self) -> None:
        check_ranges(self, [("queue_size", self.queue_size > 0, "must be > 0"),
                            ("min_new_labels", self.min_new_labels > 0, "must be > 0"),
                            ("dataset", _plain_name(self.dataset), PLAIN)])


@dataclass
class CanvasConfig:
    name: str  # the product / problem name
    task: str  # the prediction task in one sentence
    labels: list[str]  # label names, in the model's order
    data_config: str  # the data config (sources) the models are trained on
    model: str = ""  # registry model the gates act on ("" = export.name, else data.name)
    value: str = ""  # why it matters: the decision the prediction feeds
    offline: OfflineGate = field(default_factory=OfflineGate)
    latency: LatencyBudget = field(default_factory=LatencyBudget)
    behaviour: BehaviourSuite = field(default_factory=BehaviourSuite)
    promotion: PromotionRule = field(default_factory=PromotionRule)
    monitoring: MonitoringThresholds = field(default_factory=MonitoringThresholds)
    feedback: FeedbackPolicy = field(default_factory=FeedbackPolicy)
    source: ClassVar[str] = ""  # set per instance by load_canvas: the file read
    sha256: ClassVar[str] = ""  # set per instance by load_canvas: the file's digest

    def __post_init__(self) -> None:
        check_ranges(self, [
            ("labels", len(self.labels) >= 2 and len(set(self.labels)) == len(self.labels),
             "need two or more distinct label names"),
            ("behaviour.positive_label", self.behaviour.negation.enabled is not True
             or self.behaviour.positive_label in self.labels,
             f"must be one of labels {self.labels} (behaviour.negation.enabled is true)"),
            ("name", _plain_name(self.name), PLAIN),
            ("behaviour.label_templates.templates", set(self.behaviour.label_templates.templates)
             <= set(self.labels), f"keys must be labels ({', '.join(self.labels)})"),
        ])  # fmt: skip


def _plain_name(value: str) -> bool:
    return bool(value) and "/" not in value and "\\" not in value and not value.startswith(".")


def load_canvas(path: str | Path) -> CanvasConfig:
    """Read and validate a canvas file; every problem names the file and the key."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"canvas file not found: {path} (pass --canvas FILE)")
    text = path.read_text(encoding="utf-8")
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    _refuse_renamed(raw, path)
    canvas = config_mod.build_section(CanvasConfig, raw, str(path))
    canvas.source = str(path)
    canvas.sha256 = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return canvas


RENAMED = {("monitoring", "low_confidence"): "monitoring.low_margin (top-1 minus top-2 "
           "probability, the same for any number of labels)",
           ("monitoring", "low_confidence_share_alarm"): "monitoring.low_confidence_increase_alarm "
           "(a rise of the share over the reference stored at export)"}


def _refuse_renamed(raw: dict, path: Path) -> None:
    """Keys of older canvases: name what replaced them instead of 'unknown key'."""
    for (section, key), now in RENAMED.items():
        if isinstance(raw, dict) and isinstance(raw.get(section), dict) and key in raw[section]:
            raise ConfigError(f"{path}: key {section}.{key} is replaced by {now}")


def find_canvas(explicit: str | Path | None = None, mv=None, cwd: Path | None = None) -> Path:
    """The one canvas rule of every command: ``--canvas``, else the canvas the version's
    config names (``pipeline.canvas``: absolute since the config loader resolves it against
    its file; an older relative one against the current directory), else the project default
    (``canvas:`` in mlops-dl.yaml / [tool.mlops-dl]). ConfigError naming what was searched."""
    from mlops_dl.registry.root import PROJECT_FILE, project_default

    if explicit is not None:
        return Path(explicit)
    cwd = cwd or Path.cwd()
    searched = ["--canvas (not given)"]
    if mv is not None:
        named = _named_canvas(mv)
        if named and (Path(named) if Path(named).is_absolute() else cwd / named).is_file():
            return Path(named) if Path(named).is_absolute() else cwd / named
        searched.append(f"{mv.ref}'s config.yaml: " + (f"pipeline.canvas {named}, which is not "
                        f"here (relative to {cwd})" if named else "names no pipeline.canvas"))
    default = project_default(cwd, PROJECT_KEY)
    if default and Path(default).is_file():
        return Path(default)
    searched.append(f"{cwd / PROJECT_FILE}: " + (f"canvas {default} not found" if default
                                                 else "no canvas: key"))
    raise ConfigError("no canvas found; searched " + "; ".join(searched)
                      + ". Pass --canvas FILE or set `canvas: FILE` in mlops-dl.yaml")


def _named_canvas(mv) -> str:
    from mlops_dl.registry import layout

    raw = (yaml.safe_load(mv.read_text(layout.CONFIG)) or {}) if mv.has(layout.CONFIG) else {}
    return ((raw.get("pipeline") or {}).get("canvas") or "") if isinstance(raw, dict) else ""


def data_config_path(c: CanvasConfig) -> Path:
    """The data config file: relative to the current directory first, then the canvas file."""
    raw = Path(c.data_config)
    candidates = [raw] if raw.is_absolute() else [raw, Path(c.source).parent / raw]
    for p in candidates:
        if p.is_file():
            return p
    raise ConfigError(f"{c.source}: key data_config: file {c.data_config} not found "
                      f"(looked at {', '.join(str(p) for p in candidates)})")


def model_name(c: CanvasConfig) -> str:
    """The registry model the canvas governs: ``model``, else export.name, else data.name."""
    if c.model:
        return c.model
    cfg = config_mod.load(data_config_path(c))
    return cfg.export.name or cfg.data.name


def check_data_config(c: CanvasConfig) -> config_mod.Config:
    """Load the data config and check its labels are the canvas labels, in order."""
    cfg = config_mod.load(data_config_path(c))
    if list(cfg.data.labels) != list(c.labels):
        raise ConfigError(f"{c.source}: key labels: {c.labels} differ from data.labels "
                          f"{cfg.data.labels} in {data_config_path(c)} (same names, same order)")
    return cfg
