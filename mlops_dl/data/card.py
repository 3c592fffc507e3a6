"""The data card: what went in, what cleaning did, what came out (``data_card.json``).

Length statistics are in characters and, when the tokenizer loads, in tokens of the model's
own tokenizer (``tokenizer.json`` read with the ``tokenizers`` library). A tokenizer that cannot
be loaded is recorded with the reason; the card is still written.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from mlops_dl.data.prepared import SPLITS, fingerprint
from mlops_dl.locate import resolve_model

CARD_VERSION = 1


def length_stats(lengths: list[int] | np.ndarray) -> dict:
    """count, min, mean, percentiles and max of a list of lengths."""
    arr = np.asarray(lengths, dtype=np.int64)
    if arr.size == 0:
        return {"count": 0}
    pct = np.percentile(arr, [50, 90, 95, 99])
    return {"count": int(arr.size), "min": int(arr.min()), "mean": round(float(arr.mean()), 2),
            "p50": round(float(pct[0]), 1), "p90": round(float(pct[1]), 1),
            "p95": round(float(pct[2]), 1), "p99": round(float(pct[3]), 1), "max": int(arr.max())}


def load_tokenizer(ref: str):
    """(tokenizers.Tokenizer or None, resolved path or hub id, why it was skipped or "")."""
    try:
        resolved = resolve_model(ref)
    except Exception as e:  # noqa: BLE001 - any failure only skips token statistics
        return None, ref, f"{type(e).__name__}: {e}"
    path = Path(resolved) / "tokenizer.json"
    if not path.is_file():
        why = (f"{path} not found" if Path(resolved).exists()
               else f"{resolved!r} is a hub id; token statistics need a local tokenizer.json")
        return None, resolved, why
    try:
        from tokenizers import Tokenizer

        return Tokenizer.from_file(str(path)), str(path), ""
    except Exception as e:  # noqa: BLE001
        return None, str(path), f"could not load {path}: {type(e).__name__}: {e}"


def token_lengths(tokenizer, texts: list[str]) -> list[int]:
    """Tokens per text including special tokens, without truncation."""
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return [len(enc.ids) for enc in tokenizer.encode_batch(texts, add_special_tokens=True)]


def label_balance(labels: pd.Series, names: list[str]) -> dict[str, int]:
    counts = labels.value_counts()
    return {name: int(counts.get(i, 0)) for i, name in enumerate(names)}


def length_section(
    frames: dict[str, pd.DataFrame], tokenizer_ref: str, max_length: int
) -> tuple[dict, dict]:
    """``({split: {"chars": stats, "tokens": stats}}, {"info": tokenizer info, "raw": lengths})``.

    "tokens" is absent when the tokenizer cannot be loaded; info["skipped"] says why.
    """
    tok, where, why = load_tokenizer(tokenizer_ref)
    info = {"ref": tokenizer_ref, "path": where, "loaded": tok is not None}
    if why:
        info["skipped"] = why
    section: dict = {}
    raw: dict = {}
    for split in SPLITS:
        texts = frames[split]["text"].tolist()
        chars = [len(t) for t in texts]
        section[split] = {"chars": length_stats(chars)}
        raw[split] = {"chars": chars}
        if tok is not None:
            tokens = token_lengths(tok, texts)
            stats = length_stats(tokens)
            stats["over_max_length"] = int(sum(n > max_length for n in tokens))
            section[split]["tokens"] = stats
            raw[split]["tokens"] = tokens
    info["max_length"] = max_length
    return section, {"info": info, "raw": raw}


def build_card(
    *,
    name: str,
    labels: list[str],
    sources: list[dict],
    balance_before: dict,
    cleaning: dict,
    frames: dict[str, pd.DataFrame],
    lengths: dict,
    tokenizer: dict,
    split_config: dict,
    split_method: str,
    data_config: dict,
) -> dict:
    """The JSON-ready card; ``labels`` and ``fingerprints`` are the contract other stages read."""
    return {
        "card_version": CARD_VERSION,
        "name": name,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "labels": list(labels),
        "sources": sources,
        "label_balance_before_cleaning": balance_before,
        "cleaning": cleaning,
        "splits": {s: len(frames[s]) for s in SPLITS},
        "split_method": split_method,
        "split_config": split_config,
        "label_balance": {s: label_balance(frames[s]["label"], labels) for s in SPLITS},
        "lengths": lengths,
        "tokenizer": tokenizer,
        "fingerprints": {s: fingerprint(frames[s]) for s in SPLITS},
        "config": data_config,
    }
