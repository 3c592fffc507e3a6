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
from mlops_dl.errors import ConfigError

DEFAULT_PATH = "configs/canvas.yaml"
SHARE = "must be within [0, 1]"
PLAIN = "must be a plain name (no path separators)"


@dataclass
class OfflineGate:
    """Acceptance on the frozen test split."""

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
    variant: Literal["int8", "fp32"] = "int8"  # the ONNX variant that is served and gated
    measure_texts: int = 100  # texts timed when the version has no bench.json attachment

    def __post_init__(self) -> None:
        check_ranges(self, [("p95_ms", self.p95_ms > 0, "must be > 0"),
                            ("measure_texts", self.measure_texts > 0, "must be > 0")])


@dataclass
class BehaviourSuite:
    """Behavioural tests through the ONNX Predictor (invariance + directional expectations)."""

    gate: bool = True  # failing checks block acceptance (False: reported only)
    invariance_min_rate: float = 0.90  # names / @mentions / URLs swapped: label kept this often
    negation_min_rate: float = 0.80  # "I love X" -> "I don't love X": P(positive) drops this often
    positive_label: str = "positive"  # the label whose probability negation must lower
    max_cases: int = 200  # test texts perturbed per invariance check

    def __post_init__(self) -> None:
        check_ranges(self, [
            ("invariance_min_rate", 0.0 <= self.invariance_min_rate <= 1.0, SHARE),
            ("negation_min_rate", 0.0 <= self.negation_min_rate <= 1.0, SHARE),
            ("max_cases", self.max_cases > 0, "must be > 0"),
        ])  # fmt: skip


@dataclass
class PromotionRule:
    alias: str = "production"  # the alias whose version is the champion
    alpha: float = 0.05  # McNemar p-value below which a lower macro-F1 counts as worse

    def __post_init__(self) -> None:
        check_ranges(self, [("alpha", 0.0 <= self.alpha <= 1.0, SHARE)])


@dataclass
class MonitoringThresholds:
    psi_warn: float = 0.10
    psi_alarm: float = 0.25
    p_value: float = 0.01  # chi-square / KS: below this the shift is significant
    low_confidence: float = 0.50  # a prediction whose top probability is below this is "low"
    low_confidence_share_alarm: float = 0.40  # alarm when more of the window is low-confidence
    oov_increase_alarm: float = 0.02  # alarm when the [UNK] token share rises this much
    min_predictions: int = 100  # fewer in the window: statistics shown, no alarm raised

    def __post_init__(self) -> None:
        check_ranges(self, [
            ("p_value", 0.0 <= self.p_value <= 1.0, SHARE),
            ("low_confidence", 0.0 <= self.low_confidence <= 1.0, SHARE),
            ("low_confidence_share_alarm", 0.0 <= self.low_confidence_share_alarm <= 1.0, SHARE),
            ("oov_increase_alarm", 0.0 <= self.oov_increase_alarm <= 1.0, SHARE),
            ("psi_warn", 0 < self.psi_warn < self.psi_alarm,
             f"need 0 < psi_warn < psi_alarm ({self.psi_alarm})"),
        ])  # fmt: skip


@dataclass
class FeedbackPolicy:
    queue_size: int = 200  # rows per labelling queue
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
            ("behaviour.positive_label", self.behaviour.positive_label in self.labels,
             f"must be one of labels {self.labels}"),
            ("name", _plain_name(self.name), PLAIN),
        ])  # fmt: skip


def _plain_name(value: str) -> bool:
    return bool(value) and "/" not in value and "\\" not in value and not value.startswith(".")


def load_canvas(path: str | Path = DEFAULT_PATH) -> CanvasConfig:
    """Read and validate a canvas file; every problem names the file and the key."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"canvas file not found: {path} (pass --canvas FILE)")
    text = path.read_text(encoding="utf-8")
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    canvas = config_mod.build_section(CanvasConfig, raw, str(path))
    canvas.source = str(path)
    canvas.sha256 = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return canvas


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


def show(c: CanvasConfig, console) -> None:
    """Print the canvas as rich tables (the `canvas show` command)."""
    from rich.table import Table

    console.print(f"[bold]{c.name}[/] - {c.task}")
    if c.value:
        console.print(f"[dim]value:[/] {c.value}")
    try:
        cfg = check_data_config(c)
        sources = ", ".join(f"{s.kind}:{s.path or s.hub_id or s.package}"
                            + (f" ({s.split})" if s.split else "") for s in cfg.data.sources)
        data_line = f"{c.data_config} -> data.name {cfg.data.name}; sources {sources}"
    except ConfigError as e:
        data_line = f"{c.data_config} [red](problem: {e})[/]"
    console.print(f"[dim]labels:[/] {', '.join(c.labels)}   [dim]data:[/] {data_line}")
    table = Table(title=f"canvas {c.source}", show_lines=False)
    table.add_column("gate / policy")
    table.add_column("rule")
    o, lat, b, m, f = c.offline, c.latency, c.behaviour, c.monitoring, c.feedback
    table.add_row("offline metric", f"{o.metric} >= {o.threshold:.2f} on the frozen test split; "
                  f"no class F1 below {o.per_class_f1_floor:.2f}")
    table.add_row("latency", f"p95 <= {lat.p95_ms:g} ms at batch 1 ({lat.variant}, {lat.hardware})")
    table.add_row("behaviour", f"invariance >= {b.invariance_min_rate:.0%}, negation lowers "
                  f"P({b.positive_label}) in >= {b.negation_min_rate:.0%} "
                  f"({'gate' if b.gate else 'report only'})")
    table.add_row("promotion", f"to @{c.promotion.alias}: accepted, and not worse than the "
                  f"champion (lower macro-F1 with McNemar p < {c.promotion.alpha})")
    table.add_row("drift", f"PSI warn {m.psi_warn} / alarm {m.psi_alarm}; chi-square / KS "
                  f"p < {m.p_value}; min {m.min_predictions} predictions")
    table.add_row("confidence", f"alarm when > {m.low_confidence_share_alarm:.0%} of predictions "
                  f"have top probability < {m.low_confidence}; [UNK] share +"
                  f"{m.oov_increase_alarm:.0%} over reference")
    table.add_row("feedback", f"queue {f.queue_size} by {f.uncertainty}; retrain after "
                  f"{f.min_new_labels} new labels; dataset {f.dir}/{f.dataset}/")
    console.print(table)
