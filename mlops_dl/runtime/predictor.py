"""Predictor: text in, labels and probabilities out, for one servable of one version (no torch).

Texts are tokenized once (truncated to model.json ``max_length``), sorted by length, cut into
batches by ``runtime.batching`` (``serve.max_batch_tokens`` padded tokens each, or fixed
``serve.max_batch_size`` texts), each padded to its longest text, run, and put back in input
order. Every
result names the model and version that produced it. ``build`` makes one from a version and a
resolved servable; choosing (``auto``) happens before, in runtime.load / runtime.auto.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from mlops_dl.config import ServeConfig
from mlops_dl.errors import RegistryError
from mlops_dl.metrics import softmax
from mlops_dl.runtime.batching import plan_batches
from mlops_dl.runtime.padding import pad_batch
from mlops_dl.runtime.variants import BATCH_VARIES, Servable

if TYPE_CHECKING:
    from pathlib import Path

    from mlops_dl.registry import ModelVersion


# OpenVINO length buckets pad batches of up to this many texts: a one-text call (2-3 ms) paid a
# new length's preparation (~10 ms) in full; a large batch amortizes it and the bucket padding
# cost it 16 % of its throughput (scripts/openvino_tail.py, docs/benchmarks.md)
BUCKET_ROWS = 8


def load_tokenizer(path: "Path", max_length: int):
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


def open_session(mv: "ModelVersion", servable: Servable, provider: str, settings: ServeConfig):
    """The engine session for ``servable`` (its file fetched through ``mv.file``)."""
    path = mv.file(servable.file)
    if servable.engine == "openvino":
        from mlops_dl.runtime.openvino import OpenVinoSession

        return OpenVinoSession(path, settings.intra_op_threads, servable.precision,
                               buckets=openvino_buckets(settings, mv.meta))
    from mlops_dl.runtime.onnxruntime import make_session

    return make_session(path, provider, settings)


def openvino_buckets(settings: ServeConfig, meta: dict) -> tuple[int, ...]:
    """serve.openvino_buckets that fit the model's max_length, and max_length itself."""
    top = int(meta["max_length"])
    return tuple(sorted({b for b in settings.openvino_buckets if b < top} | {top})) \
        if settings.openvino_buckets else ()


def build(mv: "ModelVersion", servable: Servable, provider: str = "auto",
          settings: ServeConfig | None = None, choice: dict | None = None) -> "Predictor":
    """One Predictor for a resolved servable of ``mv``."""
    from mlops_dl.registry import layout

    meta = mv.meta
    for key in ("labels", "max_length"):
        if key not in meta:
            raise RegistryError(f"{mv.location}/{layout.MODEL_JSON}: missing key {key!r}")
    settings = settings or ServeConfig()
    session = open_session(mv, servable, provider, settings)
    tok = load_tokenizer(mv.file(layout.TOKENIZER), int(meta["max_length"]))
    pad_id = _pad_id(tok, mv.read_json(layout.TOKENIZER_FILES[1]), meta)
    return Predictor(session, tok, meta, name=mv.name, version=mv.version, servable=servable,
                     pad_id=pad_id, settings=settings, choice=choice)


class Predictor:
    """Text in, labels and probabilities out, for one model version, engine and ONNX variant."""

    def __init__(self, session, tokenizer, meta: dict, *, name: str, version: int | None,
                 servable: Servable, pad_id: int = 0, settings: ServeConfig | None = None,
                 choice: dict | None = None):
        self.session = session
        self.servable = servable
        self.engine, self.variant = servable.engine, servable.variant
        self.precision = servable.precision
        self.choice = choice  # how engine: auto / variant: auto decided (None when given)
        self.accepted: bool | None = None  # set by runtime.load from the acceptance record
        self.warnings: list[str] = []  # shown by describe() (/readyz): unaccepted, ...
        self.tokenizer = tokenizer
        self.meta = meta
        self.labels: list[str] = list(meta["labels"])
        self.max_length = int(meta["max_length"])
        self.model_name = name
        self.version = version
        self.pad_id = pad_id
        self.settings = settings or ServeConfig()
        self.provider = session.get_providers()[0]
        self.buckets = tuple(getattr(session, "buckets", ()))  # padded lengths (OpenVINO)
        session_inputs = {i.name for i in session.get_inputs()}
        self.input_names = [n for n in meta.get("inputs", session_inputs) if n in session_inputs]
        self._lock = threading.Lock()  # IO binding objects are not shared across threads

    # ------------------------------------------------------------------ inference
    @property
    def ref(self) -> str:
        return f"{self.model_name}:{self.version}" if self.version is not None else self.model_name

    def encode(self, texts: list[str]) -> list[Any]:
        """Tokenize (truncated, unpadded) in one Rust call."""
        return self.tokenizer.encode_batch(list(texts))

    def _feeds(self, encodings: list[Any]) -> dict[str, np.ndarray]:
        """Pad a batch to its longest encoding. Each array # (B, T) int64."""
        buckets = self.buckets if len(encodings) <= BUCKET_ROWS else ()
        return pad_batch(encodings, self.pad_id, self.input_names, buckets)

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

    def token_lengths(self, texts: list[str]) -> list[int]:
        """Tokens of each text as it will run (truncated, unpadded)."""
        return [len(e.ids) for e in self.encode(texts)]

    def plan(self, lengths: list[int], batch_size: int | None = None,
             max_tokens: int | None = None) -> list[list[int]]:
        """Index batches for these token lengths: ``max_tokens`` padded tokens each (default
        serve.max_batch_tokens; 0 = fixed batches), at most ``batch_size`` texts (default
        serve.max_batch_texts with a budget, else serve.max_batch_size)."""
        s = self.settings
        max_tokens = s.max_batch_tokens if max_tokens is None else max_tokens
        cap = batch_size or (s.max_batch_texts if max_tokens > 0 else s.max_batch_size)
        return plan_batches(lengths, max_tokens, cap)

    def logits(self, texts: list[str], batch_size: int | None = None,
               max_tokens: int | None = None) -> np.ndarray:
        """Length-sorted batched inference (``plan``); rows in input order. # (N, L)"""
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float32)  # (N, L)
        if not texts:
            return out
        encodings = self.encode(texts)
        for rows in self.plan([len(e.ids) for e in encodings], batch_size, max_tokens):
            out[rows] = self._run(self._feeds([encodings[i] for i in rows]))  # (B, L)
        return out

    def predict_proba(self, texts: list[str], batch_size: int | None = None,
                      max_tokens: int | None = None) -> np.ndarray:
        """Class probabilities. # (N, L)"""
        return softmax(self.logits(texts, batch_size, max_tokens))

    def predict(self, texts: list[str], batch_size: int | None = None,
                max_tokens: int | None = None) -> list[dict]:
        """One dict per text: label, score, probabilities {label: p}, model, version."""
        probs = self.predict_proba(texts, batch_size, max_tokens)  # (N, L)
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
               "variant": self.variant, "precision": self.precision,
               "servable": self.servable.key, "batch_invariant": self.servable.batch_invariant,
               "accepted": self.accepted, "provider": self.provider, "labels": self.labels,
               "max_length": self.max_length,
               "intra_op_threads": self.settings.intra_op_threads,
               "spinning": self.settings.spinning,
               "graph_optimization": self.settings.graph_optimization,
               "max_batch_tokens": self.settings.max_batch_tokens}
        warnings = list(self.warnings)
        if not self.servable.batch_invariant:
            warnings.append(f"{self.variant}: {BATCH_VARIES}")
        if warnings:
            out["warnings"] = warnings
        if self.choice is not None:
            out["choice"] = self.choice
        return out
