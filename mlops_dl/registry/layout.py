"""Every on-disk name of the registry: the files of a version and of a model.

Writers (export's bundle) and readers (bench, gates, monitor, cli) use these names through
``ModelVersion``/``Registry``; nothing outside ``registry/`` builds a registry path.
"""

from __future__ import annotations

# ---- files of a version (immutable, checksummed)
MODEL_JSON = "model.json"  # name, labels, max_length, inputs, outputs, variants, opset, created
CONFIG = "config.yaml"  # the resolved training config of the run
METRICS = "metrics.json"  # validation/test metrics of the run (+ baseline)
VALIDATION = "validation.json"  # export checks per variant
LINEAGE = "lineage.json"  # run id, data fingerprints, git commit, base model
EVAL_SAMPLES = "eval_samples.jsonl"  # validation texts, gold, this version's prediction
TOKENIZER = "tokenizer.json"
TOKENIZER_FILES = (TOKENIZER, "tokenizer_config.json", "special_tokens_map.json")
# ONNX files: model.json "variants"/"openvino" name them; the names export writes
ONNX_FILES = {"fp32": "model.onnx", "int8": "model.int8.onnx",
              "int8-static": "model.int8-static.onnx", "int8-nncf": "model.int8-nncf.onnx",
              "fp32-plain": "model.plain.onnx"}
VARIANT_FILES = ONNX_FILES  # older name
ORT_KEYS = ("fp32", "int8", "int8-static", "int8-nncf")  # model.json "variants" keys (int8: dynamic)
CHECKSUMS = "checksums.json"  # sha256 and size of every immutable file
SIGNATURE = "model.sig"  # OpenSSF model signature (Sigstore bundle) over every other file

# ---- mutable per-version state (outside the checksums)
ATTACHMENTS = "attachments"  # JSON written later: bench.json, acceptance.json, ...
TAGS = "tags"  # one small file per tag
MUTABLE_DIRS = (ATTACHMENTS, TAGS)
REFERENCE_STATS = "reference_stats.json"  # monitoring reference (attachment; old: version file)
CALIBRATION = "calibration.json"  # calibrator of the served variant, fitted at export (attachment)
BENCH = "bench.json"  # attachment: `mlops-dl bench` report (engines, machine, figures)
ACCEPTANCE = "acceptance.json"  # attachment: `mlops-dl accept` result per servable
PROMOTION = "promotion.json"  # attachment: the last promotion decision
ATTESTATIONS = (ACCEPTANCE, PROMOTION)  # gate records: `registry copy` leaves them unless asked
ATTACHMENT_NAMES = (BENCH, ACCEPTANCE, PROMOTION, REFERENCE_STATS, CALIBRATION)

# ---- files of a model
VERSION_PREFIX = "version-"
ALIASES = "aliases"  # one file per alias holding a version number
HISTORY = "history"  # local: history/<alias>.jsonl, every move of the alias
LAST_VERSION = "last_version"  # highest number ever handed out (never reused after delete)
LOCK = ".lock"  # the version-number lock
AUDIT_LOG = "promotions.jsonl"  # every promotion decision, one JSON line each
