"""CTranslate2 as a bench peer (padding-free: it drops the pad tokens inside a batch).

Its ``Encoder`` runs the BERT encoder and pooler of the run's save_pretrained model, converted
once into a cache folder (``artifacts/bench/ct2-<name>-<version>/<quantization>/``); the
classifier Linear, which CTranslate2 cannot run, is computed here in numpy from the saved
weights. Batch invariant (no padding, per-row int8 activation scales; tested). A bench engine
only, never a servable: the registry stores ONNX, JSON and tokenizers.
Conversion imports torch and transformers, in the engine's own process only.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from mlops_dl.metrics import softmax

QUANTIZATION = {"int8": "int8", "fp32": "float32"}  # our compute name -> CTranslate2's
INSTALL = "pip install 'mlops-dl[ctranslate2]'"
WEIGHTS = ("model.safetensors", "pytorch_model.bin")
HEAD = ("classifier.weight", "classifier.bias", "bert.pooler.dense.weight",
        "bert.pooler.dense.bias")


def ct2_unavailable(model_dir: Path | None, provider: str) -> str:
    """'' when the CTranslate2 peer can run on this model here, else why it is skipped."""
    if importlib.util.find_spec("ctranslate2") is None:
        return f"skipped: ctranslate2 not installed ({INSTALL})"
    if provider != "cpu":
        return "skipped: the CTranslate2 peer is measured on CPU only"
    if model_dir is None:
        return "skipped: needs the run's save_pretrained model (lineage.json run_dir)"
    config = json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8"))
    if "BertForSequenceClassification" not in (config.get("architectures") or []):
        return (f"skipped: the CTranslate2 peer covers BertForSequenceClassification; this "
                f"model is {config.get('architectures')}")
    return ""


def ct2_rows(base: dict, mv, model_dir: Path | None, kinds, torch_baseline: bool,
             cache_root: Path) -> tuple[list[dict], dict[str, str]]:
    """The peer's bench rows ``ct2-<compute>`` (``kinds``: int8, fp32) and {label: why skipped}."""
    unknown = [k for k in kinds if k not in QUANTIZATION]
    if unknown:
        raise ValueError(f"opts ct2: {unknown} not among {', '.join(QUANTIZATION)}")
    why = ("skipped (--no-torch: converting the model needs torch and transformers)"
           if not torch_baseline else ct2_unavailable(model_dir, base["provider"]))
    if why:
        return [], {f"ct2-{k}": why for k in kinds}
    cache = str(cache_root / f"ct2-{mv.name}-{mv.version}")
    return [{**base, "kind": "ct2", "compute": k, "label": f"ct2-{k}", "path": str(model_dir),
             "model_version": mv, "cache": cache} for k in kinds], {}


def weights_file(model_dir: Path) -> Path:
    for name in WEIGHTS:
        if (model_dir / name).is_file():
            return model_dir / name
    raise FileNotFoundError(f"{model_dir}: none of {', '.join(WEIGHTS)}")


def source_stamp(model_dir: Path) -> dict:
    """What a cached conversion was made from: the weights' and config's digests."""
    import ctranslate2

    digest = hashlib.sha256()
    for path in (model_dir / "config.json", weights_file(model_dir)):
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return {"sha256": digest.hexdigest(), "ctranslate2": ctranslate2.__version__}


def converted(model_dir: Path, cache: Path, quantization: str) -> Path:
    """The CTranslate2 model of ``model_dir`` at ``quantization``, converted once into
    ``cache/<quantization>`` (again when the weights or the ctranslate2 version change)."""
    from filelock import FileLock

    out, stamp = cache / quantization, source_stamp(model_dir)
    cache.mkdir(parents=True, exist_ok=True)
    with FileLock(str(cache / f".{quantization}.lock")):
        if (out / "source.json").is_file() and json.loads(
                (out / "source.json").read_text(encoding="utf-8")) == stamp:
            return out
        scratch = Path(tempfile.mkdtemp(dir=cache, prefix=f".{quantization}-"))
        try:
            _convert(model_dir, scratch / "model", quantization)
            (scratch / "model" / "source.json").write_text(json.dumps(stamp), encoding="utf-8")
            shutil.rmtree(out, ignore_errors=True)
            os.replace(scratch / "model", out)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return out


def _convert(model_dir: Path, out: Path, quantization: str) -> None:
    """ctranslate2's transformers converter (torch + transformers, this process only)."""
    import transformers
    from ctranslate2.converters import TransformersConverter

    class Converter(TransformersConverter):
        def load_model(self, model_class, path, **kwargs):
            model = super().load_model(model_class, path, **kwargs)
            if not hasattr(model.config, "position_embedding_type"):  # transformers 5: absolute
                model.config.position_embedding_type = "absolute"
            return model

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    Converter(str(model_dir)).convert(str(out), quantization=quantization, force=True)


def head_weights(model_dir: Path) -> dict[str, np.ndarray]:
    """The classifier (and pooler) weights as float32 numpy arrays."""
    path = weights_file(model_dir)
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="np") as f:
            return {k: f.get_tensor(k).astype(np.float32) for k in HEAD if k in f.keys()}
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    return {k: state[k].float().numpy() for k in HEAD if k in state}


def classify(out, head: dict[str, np.ndarray]) -> np.ndarray:
    """Encoder output -> probabilities. # (B, L)"""
    pooled = getattr(out, "pooler_output", None)
    if pooled is not None:
        pooled = np.asarray(pooled)  # (B, H)
    else:  # no pooler in the converted model: BERT's, dense + tanh on the first token
        first = np.asarray(out.last_hidden_state)[:, 0]  # (B, H)
        pooled = np.tanh(first @ head["bert.pooler.dense.weight"].T
                         + head["bert.pooler.dense.bias"])
    return softmax(pooled @ head["classifier.weight"].T + head["classifier.bias"])  # (B, L)


def ct2_engine(engine: dict):
    """(run, run_fixed, info) for a CTranslate2 Encoder + our numpy classifier head."""
    import ctranslate2

    from mlops_dl.bench.engines import fixed_ids
    from mlops_dl.registry import layout
    from mlops_dl.runtime import load_tokenizer

    compute = engine.get("compute", "int8")
    model_dir, mv = Path(engine["path"]), engine["model_version"]
    folder = converted(model_dir, Path(engine["cache"]), QUANTIZATION[compute])
    threads = int(engine.get("threads") or os.cpu_count() or 1)
    encoder = ctranslate2.Encoder(str(folder), "cpu", compute_type=QUANTIZATION[compute],
                                  intra_threads=threads)
    head = head_weights(model_dir)
    tok = load_tokenizer(mv.file(layout.TOKENIZER), int(mv.meta["max_length"]))
    labels = len(mv.meta["labels"])

    def run(texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, labels))
        encodings = tok.encode_batch(list(texts))
        out = encoder.forward_batch([e.ids for e in encodings],
                                    token_type_ids=[e.type_ids for e in encodings])
        return classify(out, head)  # (B, L)

    def run_fixed(b: int, t: int):
        ids = fixed_ids(b, t, tok.get_vocab_size()).tolist()  # (B, T)
        types = [[0] * t for _ in range(b)]  # (B, T)
        return lambda: classify(encoder.forward_batch(ids, token_type_ids=types), head)

    return run, run_fixed, {
        "provider": "ct2-cpu", "runtime": "ctranslate2", "variant": compute, "compute": compute,
        "precision": compute, "batch_invariant": True,  # alone or batched: the same to ~1e-7
        "ctranslate2": ctranslate2.__version__, "ct2_threads": threads, "ct2_model": str(folder),
        "ct2_use_mkl": os.environ.get("CT2_USE_MKL", "auto")}  # auto: MKL on Intel, oneDNN on AMD
