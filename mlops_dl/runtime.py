"""Predictor: a registered model version served with ``tokenizers`` + onnxruntime or OpenVINO
(no torch).

Texts are tokenized once (truncated to model.json ``max_length``), sorted by length, cut into
batches padded to the longest text in each batch, run, and put back in input order. Every
result names the model and version that produced it. Session settings are the validated
``ServeConfig`` (intra_op_threads, spinning, graph_optimization, max_batch_size).
"""

from __future__ import annotations

import gc
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlops_dl import variants as variants_mod
from mlops_dl.config import ServeConfig
from mlops_dl.errors import MlopsError, RegistryError
from mlops_dl.metrics import softmax
from mlops_dl.padding import pad_batch

if TYPE_CHECKING:
    from mlops_dl.registry import ModelVersion, Registry

PROVIDERS = ("auto", "cpu", "cuda")


_OPT_LEVELS = {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC",
               "extended": "ORT_ENABLE_EXTENDED", "all": "ORT_ENABLE_ALL"}


def make_session(model_path: Path, provider: str = "auto", settings: ServeConfig | None = None):
    """An InferenceSession on ``provider`` ("auto" = CUDA when onnxruntime has it, else CPU)."""
    import onnxruntime as ort

    settings = settings or ServeConfig()
    if provider not in PROVIDERS:
        raise MlopsError(f"provider {provider!r}: expected one of {', '.join(PROVIDERS)}")
    available = ort.get_available_providers()
    has_cuda = "CUDAExecutionProvider" in available
    if provider == "cuda" and not has_cuda:
        raise MlopsError(
            f"provider 'cuda' requested but this onnxruntime has no CUDAExecutionProvider "
            f"(available: {', '.join(available)}); install onnxruntime-gpu or use --provider cpu"
        )
    use_cuda = provider == "cuda" or (provider == "auto" and has_cuda)
    opts = ort.SessionOptions()  # settings.graph_optimization: checked by ServeConfig
    opts.graph_optimization_level = getattr(
        ort.GraphOptimizationLevel, _OPT_LEVELS[settings.graph_optimization]
    )
    opts.intra_op_num_threads = max(0, settings.intra_op_threads)
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    spin = "1" if settings.spinning else "0"
    opts.add_session_config_entry("session.intra_op.allow_spinning", spin)
    opts.add_session_config_entry("session.inter_op.allow_spinning", spin)
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if use_cuda else [
        "CPUExecutionProvider"]
    try:
        return ort.InferenceSession(str(model_path), sess_options=opts, providers=providers)
    except Exception as e:  # onnxruntime raises its own Fail/InvalidGraph types
        raise RegistryError(f"cannot load ONNX model {model_path}: {e}") from None


def load_tokenizer(path: Path, max_length: int):
    """A ``tokenizers.Tokenizer`` that truncates to ``max_length`` and does not pad."""
    from tokenizers import Tokenizer

    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as e:
        raise RegistryError(f"cannot read tokenizer {path}: {e}") from None
    tok.no_padding()
    tok.enable_truncation(max_length=max_length)
    return tok


def _pad_id(tok, tokenizer_config: dict | None, meta: dict) -> int:
    """The pad token id: model.json, else tokenizer_config.json, else common pad names."""
    if isinstance(meta.get("pad_token_id"), int):
        return meta["pad_token_id"]
    names = []
    if tokenizer_config:
        pad = tokenizer_config.get("pad_token")
        names.append(pad.get("content") if isinstance(pad, dict) else pad)
    names += ["[PAD]", "<pad>", "<|pad|>"]
    for name in names:
        if isinstance(name, str) and tok.token_to_id(name) is not None:
            return int(tok.token_to_id(name))
    return 0


BLANK_RULE = ("an empty or white-space-only text is refused (the server answers 422 naming "
              "texts[i]; batch predict reports the row in pred_error): it holds nothing to "
              "classify, and data prepare drops such texts, so no model was trained on one")


def is_blank(text: str) -> bool:
    """The one rule for empty texts, for the server and batch predict alike (BLANK_RULE)."""
    return not text.strip()


def freeze_heap() -> None:
    """Move every object alive now (modules, the model, the app) out of the garbage collector's
    generations: a full collection then walks only what requests allocate. Measured on the
    serve process (64k tracked objects after start-up): a gen-2 collection took 280-300 ms on
    the shared 2-core machine, 0.002 ms after this; one landing in a request was its tail."""
    gc.collect()
    gc.freeze()


class Predictor:
    """Text in, labels and probabilities out, for one model version, engine and ONNX variant."""

    def __init__(self, session, tokenizer, meta: dict, *, name: str, version: int | None,
                 variant: str, pad_id: int = 0, settings: ServeConfig | None = None,
                 engine: str = "onnxruntime", choice: dict | None = None):
        self.session = session
        self.engine = engine
        self.choice = choice  # how engine: auto / variant: auto decided (None when given)
        self.tokenizer = tokenizer
        self.meta = meta
        self.labels: list[str] = list(meta["labels"])
        self.max_length = int(meta["max_length"])
        self.model_name = name
        self.version = version
        self.variant = variant
        self.pad_id = pad_id
        self.settings = settings or ServeConfig()
        self.provider = session.get_providers()[0]
        session_inputs = {i.name for i in session.get_inputs()}
        self.input_names = [n for n in meta.get("inputs", session_inputs) if n in session_inputs]
        self._lock = threading.Lock()  # IO binding objects are not shared across threads

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_registry(cls, ref: str, registry: "Registry | str | Path | None" = None,
                      provider: str = "auto", variant: str = "int8",
                      settings: ServeConfig | None = None,
                      engine: str = "onnxruntime") -> "Predictor":
        """Load ``ref`` ("name", "name:3", "name@production") after verifying its checksums."""
        from mlops_dl.registry import Registry

        return cls.from_version(Registry.open(registry).get(ref, verify=True), provider, variant,
                                settings, engine)

    @classmethod
    def from_version(cls, mv: "ModelVersion", provider: str = "auto", variant: str = "int8",
                     settings: ServeConfig | None = None,
                     engine: str = "onnxruntime") -> "Predictor":
        """Load a registered version (its files through ``mv.file``).

        ``engine``/``variant`` "auto": the fastest gated pair on this machine (mlops_dl.choice).
        """
        from mlops_dl.registry import layout

        meta = mv.meta
        for key in ("labels", "max_length"):
            if key not in meta:
                raise RegistryError(f"{mv.location}/{layout.MODEL_JSON}: missing key {key!r}")
        variants_mod.check_choice(engine, variant)
        if provider not in PROVIDERS:
            raise MlopsError(f"provider {provider!r}: expected one of {', '.join(PROVIDERS)}")
        settings = settings or ServeConfig()
        choice = None
        if "auto" in (engine, variant):
            from mlops_dl.choice import choose

            choice = choose(mv, engine, variant, provider, settings)
            engine, variant = choice["engine"], choice["variant"]
        model_file = variants_mod.resolve(mv, engine, variant)
        if engine == "openvino":
            from mlops_dl.openvino_session import OpenVinoSession

            session = OpenVinoSession(model_file, settings.intra_op_threads)
        else:
            session = make_session(model_file, provider, settings)
        tok = load_tokenizer(mv.file(layout.TOKENIZER), int(meta["max_length"]))
        pad_id = _pad_id(tok, mv.read_json(layout.TOKENIZER_FILES[1]), meta)
        return cls(session, tok, meta, name=mv.name, version=mv.version, variant=variant,
                   pad_id=pad_id, settings=settings, engine=engine, choice=choice)

    @classmethod
    def from_dir(cls, path: str | Path, provider: str = "auto", variant: str = "int8",
                 settings: ServeConfig | None = None, *, name: str | None = None,
                 version: int | None = None, engine: str = "onnxruntime") -> "Predictor":
        """Load a bundle folder (model.json, tokenizer.json, ONNX variants), unregistered."""
        from mlops_dl.registry.bundle import read_bundle

        mv = read_bundle(path, name=name, version=version)
        return cls.from_version(mv, provider, variant, settings, engine)

    # ------------------------------------------------------------------ inference
    @property
    def ref(self) -> str:
        return f"{self.model_name}:{self.version}" if self.version is not None else self.model_name

    def encode(self, texts: list[str]) -> list[Any]:
        """Tokenize (truncated, unpadded) in one Rust call."""
        return self.tokenizer.encode_batch(list(texts))

    def _feeds(self, encodings: list[Any]) -> dict[str, np.ndarray]:
        """Pad a batch to its longest encoding. Each array # (B, T) int64."""
        return pad_batch(encodings, self.pad_id, self.input_names)

    def _run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """One ONNX run -> logits # (B, L); CUDA goes through IO binding."""
        if self.provider != "CUDAExecutionProvider":
            return self.session.run(["logits"], feeds)[0]
        with self._lock:
            binding = self.session.io_binding()
            for name, array in feeds.items():
                binding.bind_cpu_input(name, array)
            binding.bind_output("logits", "cuda")
            self.session.run_with_iobinding(binding)
            return binding.copy_outputs_to_cpu()[0]

    def logits(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
        """Length-sorted batched inference; rows in input order. # (N, L)"""
        batch_size = batch_size or self.settings.max_batch_size
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float32)  # (N, L)
        if not texts:
            return out
        encodings = self.encode(texts)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            out[rows] = self._run(self._feeds([encodings[i] for i in rows]))
        return out

    def predict_proba(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
        """Class probabilities. # (N, L)"""
        return softmax(self.logits(texts, batch_size))

    def predict(self, texts: list[str], batch_size: int | None = None) -> list[dict]:
        """One dict per text: label, score, probabilities {label: p}, model, version."""
        probs = self.predict_proba(texts, batch_size)  # (N, L)
        return [self.result(row) for row in probs]

    def result(self, probs: np.ndarray) -> dict:
        """The result dict for one row of probabilities. # (L,)"""
        best = int(np.argmax(probs))
        return {
            "label": self.labels[best],
            "score": float(probs[best]),
            "probabilities": {lab: float(p) for lab, p in zip(self.labels, probs)},
            "model": self.model_name,
            "version": self.version,
        }

    def describe(self) -> dict:
        """What is loaded, for /readyz, logs and benchmark reports."""
        out = {"model": self.model_name, "version": self.version, "engine": self.engine,
               "variant": self.variant, "provider": self.provider, "labels": self.labels,
               "max_length": self.max_length,
               "intra_op_threads": self.settings.intra_op_threads,
               "spinning": self.settings.spinning,
               "graph_optimization": self.settings.graph_optimization}
        if self.engine == "openvino":
            out["precision"] = self.session.precision
        if self.choice is not None:
            out["choice"] = self.choice
        return out
