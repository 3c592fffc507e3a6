"""Export validation: ONNX logits vs PyTorch on real texts, then the task check (agreement, F1).

Both runtimes get the very same length-sorted, padded batches, so any difference is the graph's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlops_dl.metrics import classification_report, mcnemar


@dataclass
class Batches:
    """Length-sorted padded batches of token arrays; ``order`` maps rows back to input order."""

    feeds: list[dict[str, np.ndarray]]  # each array (B, T) int64
    order: np.ndarray  # (N,) input index of each sorted row
    lengths: np.ndarray  # (N,) token count per text (truncated), in input order

    def unsort(self, rows: np.ndarray) -> np.ndarray:
        out = np.empty_like(rows)
        out[self.order] = rows
        return out


def encode(tokenizer, texts: list[str], names: list[str], max_length: int, batch_size: int) -> Batches:
    ids = tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
    lengths = np.array([len(x) for x in ids])
    order = np.argsort(lengths, kind="stable")
    feeds = []
    for start in range(0, len(texts), batch_size):
        chunk = [texts[i] for i in order[start:start + batch_size]]
        enc = tokenizer(chunk, padding=True, truncation=True, max_length=max_length, return_tensors="np")
        feeds.append({n: enc[n].astype(np.int64) for n in names})
    return Batches(feeds, order, lengths)


def torch_logits(model, batches: Batches, progress: Callable[[int], None] | None = None) -> np.ndarray:
    """PyTorch reference logits # (N, L); ``progress(batches done)`` after each batch."""
    import torch

    model.eval()
    out = []
    with torch.inference_mode():
        for feed in batches.feeds:
            tensors = {k: torch.from_numpy(v) for k, v in feed.items()}
            out.append(model(**tensors).logits.float().numpy())  # (B, L)
            (progress or _quiet)(len(out))
    return batches.unsort(np.concatenate(out))


def ort_logits(path: Path, batches: Batches, progress: Callable[[int], None] | None = None) -> np.ndarray:
    """onnxruntime logits of one ONNX file on the same batches # (N, L)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    wanted = {i.name for i in session.get_inputs()}
    out = []
    for f in batches.feeds:
        out.append(session.run(["logits"], {k: v for k, v in f.items() if k in wanted})[0])  # (B, L)
        (progress or _quiet)(len(out))
    return batches.unsort(np.concatenate(out))


def _quiet(done: int) -> None:
    return None


def check_variant(
    logits: np.ndarray, reference: np.ndarray, gold: list[int], labels: list[str],
    atol: float | None, max_f1_drop: float | None, min_agreement: float | None = None,
) -> dict:
    """The logits vs PyTorch: max |logit diff| <= ``atol`` (None: reported, not gated, as for
    int8), also relative to the spread of PyTorch's logits; then the task check: label
    agreement >= ``min_agreement`` and the macro-F1 drop (points) <= ``max_f1_drop``."""
    diff = np.abs(logits - reference)  # (N, L)
    pred, ref_pred = logits.argmax(-1), reference.argmax(-1)
    report = classification_report(gold, pred.tolist(), labels)
    ref_f1 = classification_report(gold, ref_pred.tolist(), labels)["macro_f1"]
    drop = (ref_f1 - report["macro_f1"]) * 100.0
    agreement = float((pred == ref_pred).mean())
    logits_ok = atol is None or bool(diff.max() <= atol)
    f1_ok = max_f1_drop is None or drop <= max_f1_drop
    agreement_ok = min_agreement is None or agreement >= min_agreement
    scale = float(reference.std()) or 1.0
    return {
        "max_abs_logit_diff": float(diff.max()),
        "mean_abs_logit_diff": float(diff.mean()),
        "logit_scale": scale,  # std of PyTorch's logits
        "relative_logit_diff": float(diff.max()) / scale,  # max |diff| in units of that std
        "atol": atol,
        "logits_ok": logits_ok,
        "label_agreement": agreement,
        "min_agreement": min_agreement,
        "agreement_ok": agreement_ok,
        "accuracy": report["accuracy"],
        "macro_f1": report["macro_f1"],
        "torch_macro_f1": ref_f1,
        "f1_drop_points": drop,  # PyTorch minus variant (the export.max_f1_drop gate's sense)
        "f1_change_points": -drop,  # variant minus PyTorch: what every command prints
        "mcnemar_vs_torch": mcnemar(gold, ref_pred.tolist(), pred.tolist()),
        "max_f1_drop": max_f1_drop,
        "f1_ok": f1_ok,
        "passed": logits_ok and f1_ok and agreement_ok,
    }


def tokenizer_parity(tokenizer_json: Path, texts: list[str], hf_tokenizer, max_length: int) -> float:
    """Share of texts that tokenizer.json alone (the runtime's path) encodes like transformers."""
    from tokenizers import Tokenizer

    fast = Tokenizer.from_file(str(tokenizer_json))
    fast.no_padding()
    fast.enable_truncation(max_length=max_length)
    ours = [e.ids for e in fast.encode_batch(texts)]
    ref = hf_tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
    return float(np.mean([a == list(b) for a, b in zip(ours, ref)])) if texts else 1.0
