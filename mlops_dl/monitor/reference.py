"""Reference statistics: what the validation split looks like to a version, for drift checks.

The one owner of the format (schema ``mlops-dl/reference-stats/1``): label distribution,
confidence (top probability) and margin (top-1 minus top-2) histograms, text length (characters and tokens) histograms and the [UNK] token share,
plus value samples for KS tests. Export computes them with ``compute_reference`` and registers
them as the version's ``reference_stats.json`` attachment. For a variant or a version without
them (versions exported before, whose ``reference_stats.json`` version file had another format,
are read this way), ``reference_for`` computes them from the validation texts and probabilities
the export stored (eval_samples.jsonl), else from the prepared validation split run through the
Predictor, and stores them as that attachment.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mlops_dl.errors import MlopsError
from mlops_dl.monitor.drift import margin

SCHEMA = "mlops-dl/reference-stats/1"
MAX_VALUES = 5000  # value samples kept per statistic (for KS)
CONFIDENCE_EDGES = np.linspace(0.0, 1.0, 11)


def length_edges(values: np.ndarray) -> np.ndarray:
    """Ten bins from 0 to the longest value (fewer when the values are short)."""
    top = max(int(np.max(values, initial=1)), 1)
    return np.unique(np.linspace(0, top, 11).round())


def histogram(values: np.ndarray, edges: np.ndarray) -> dict:
    counts, _ = np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges)
    sample = values if len(values) <= MAX_VALUES else np.random.default_rng(0).choice(
        values, MAX_VALUES, replace=False)
    return {"bin_edges": [float(e) for e in edges], "counts": counts.astype(int).tolist(),
            "values": [round(float(v), 4) for v in sample]}


def unk_id(tokenizer) -> int | None:
    """The id of a ``tokenizers.Tokenizer``'s unknown token ([UNK], <unk>), or None."""
    model = json.loads(tokenizer.to_str()).get("model", {})
    name = model.get("unk_token")
    if isinstance(model.get("unk_id"), int):
        return model["unk_id"]
    return tokenizer.token_to_id(name) if isinstance(name, str) else None


def token_stats(tokenizer, unk: int | None, texts: list[str]) -> tuple[np.ndarray, int, int]:
    """(token lengths incl. special tokens # (N,), [UNK] count, non-special token count)."""
    encodings = tokenizer.encode_batch(list(texts)) if texts else []
    lengths = np.array([len(e.ids) for e in encodings], dtype=np.float64)  # (N,)
    unk_count = total = 0
    for e in encodings:
        ordinary = [i for i, s in zip(e.ids, e.special_tokens_mask) if not s]
        total += len(ordinary)
        unk_count += sum(1 for i in ordinary if i == unk) if unk is not None else 0
    return lengths, unk_count, total


def compute_reference(texts: list[str], probs: np.ndarray, labels: list[str], tokenizer,
                      unk: int | None, variant: str, source: str) -> dict:
    """Reference stats from texts and their probabilities. probs # (N, L)"""
    if len(texts) == 0:
        raise MlopsError(f"reference statistics need texts; {source} has none")
    pred = probs.argmax(axis=1)  # (N,)
    conf = probs.max(axis=1)  # (N,)
    chars = np.array([len(t) for t in texts], dtype=np.float64)  # (N,)
    tokens, unk_count, total = token_stats(tokenizer, unk, texts)
    n = len(texts)
    return {
        "schema": SCHEMA, "variant": variant, "n": n, "labels": list(labels), "source": source,
        "label_distribution": {lab: float((pred == i).sum() / n) for i, lab in enumerate(labels)},
        "confidence": histogram(conf, CONFIDENCE_EDGES),
        "margin": histogram(margin(probs), CONFIDENCE_EDGES),
        "char_length": histogram(chars, length_edges(chars)),
        "token_length": histogram(tokens, length_edges(tokens)),
        "oov_rate": unk_count / total if total else 0.0,
        "oov_tokens": unk_count, "tokens": total,
        "mean_confidence": float(conf.mean()),
    }


def reference_margins(ref: dict) -> np.ndarray | None:
    """The reference's margin sample # (N,); for a stored reference from before margins were
    kept, derived from the top probabilities when there are two labels (margin = 2 p - 1),
    else None."""
    values = (ref.get("margin") or {}).get("values")
    if values:
        return np.asarray(values, dtype=np.float64)
    top = (ref.get("confidence") or {}).get("values")
    if top and len(ref.get("labels") or []) == 2:
        return 2 * np.asarray(top, dtype=np.float64) - 1
    return None


def _eval_samples(mv, labels: list[str], variant: str) -> tuple[list[str], np.ndarray] | None:
    from mlops_dl.registry import layout

    texts, rows = [], []
    for rec in mv.read_jsonl(layout.EVAL_SAMPLES) or []:
        probs = rec.get("probabilities")
        if rec.get("variant") != variant or not isinstance(probs, dict) or set(probs) != set(labels):
            return None  # stored for another variant: score the validation split instead
        texts.append(rec["text"])
        rows.append([probs[lab] for lab in labels])
    return (texts, np.asarray(rows, dtype=np.float64)) if texts else None


def validation_dir(mv, data_dir: str | Path | None) -> Path:
    """The prepared dataset of a version: ``data_dir``, else lineage.json's data_dir, else
    config.yaml's <data.output_dir>/<data.name>; the first that exists."""
    if data_dir:
        return Path(data_dir)
    import yaml

    from mlops_dl.config import DataConfig
    from mlops_dl.data.prepared import prepared_dir
    from mlops_dl.registry import layout

    candidates = [mv.lineage.get("data_dir")]
    if mv.has(layout.CONFIG):
        data = (yaml.safe_load(mv.read_text(layout.CONFIG)) or {}).get("data") or {}
        if data.get("name"):
            try:
                output_dir = data.get("output_dir") or DataConfig.output_dir
                candidates.append(str(prepared_dir(output_dir, data["name"])))
            except MlopsError:  # a name that is not a plain directory name
                pass
    for c in filter(None, candidates):
        if (Path(c) / "data_card.json").is_file():
            return Path(c)
    looked = ", ".join(filter(None, candidates)) or "nothing (no lineage.json data_dir, no config.yaml data)"
    raise MlopsError(f"{mv.ref}: its prepared dataset is not here (looked at {looked}); "
                     f"pass --data PREPARED_DIR")


def reference_for(registry, mv, predictor, data_dir: str | Path | None = None,
                  store: bool = True) -> dict:
    """The version's reference stats for ``predictor.variant``: stored, else computed + stored.

    A stored reference from before margins were kept is recomputed when that needs no data
    (eval_samples.jsonl), else used as it is (see reference_margins)."""
    from mlops_dl.registry import layout

    variant = predictor.variant
    labels = predictor.labels
    stored = mv.attachment(layout.REFERENCE_STATS)
    current = stored and stored.get("schema") == SCHEMA and stored.get("variant") == variant
    samples = None if current and "margin" in stored else _eval_samples(mv, labels, variant)
    if current and ("margin" in stored or samples is None):
        return stored
    unk = unk_id(predictor.tokenizer)
    if samples is not None:
        ref = compute_reference(*samples, labels, predictor.tokenizer, unk, variant,
                                f"{mv.ref} eval_samples.jsonl (validation texts scored at export)")
    else:
        from mlops_dl.data.prepared import load_prepared

        prepared = load_prepared(validation_dir(mv, data_dir))
        texts, _ = prepared.texts_labels("validation")
        texts = texts[:MAX_VALUES]
        probs = predictor.predict_proba(texts)  # (N, L)
        ref = compute_reference(texts, probs, labels, predictor.tokenizer, unk, variant,
                                f"{prepared.root}/validation.parquet scored by {mv.ref} {variant}")
    if store:
        try:
            registry.attach(mv.ref, layout.REFERENCE_STATS, ref)
        except OSError as e:  # a read-only registry: use the stats, say they were not kept
            ref["source"] += f" (not stored: {e.strerror or e})"
    return ref
