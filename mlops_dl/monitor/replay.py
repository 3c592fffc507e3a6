"""Champion vs challenger replay: run a candidate over logged texts, measure disagreement.

Evidence without labels: where the challenger would have answered differently from the served
version, per served class, with the served x challenger confusion table.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from mlops_dl.errors import MlopsError
from mlops_dl.monitor.window import LogWindow


def replay(win: LogWindow, challenger, limit: int = 10_000) -> dict:
    """Score the window's logged texts (the latest ``limit``) with ``challenger`` (a Predictor)."""
    recs = [r for r in win.records if isinstance(r.get("text"), str)]
    if not recs:
        raise MlopsError(
            f"replay needs logged texts, but none of the {len(win.records)} records in the window "
            f"has a 'text' field (serve.log_text is hash or none); serve with log_text: text")
    recs = recs[-limit:]
    probs = challenger.predict_proba([r["text"] for r in recs])  # (N, L)
    ch_labels = [challenger.labels[i] for i in probs.argmax(axis=1)]
    served = [r["label"] for r in recs]
    names = list(dict.fromkeys([*challenger.labels, *sorted(set(served))]))
    table = {a: {b: 0 for b in names} for a in names}  # served -> challenger -> count
    for a, b in zip(served, ch_labels):
        table[a][b] += 1
    per_class = []
    for lab in names:
        row = table[lab]
        total = sum(row.values())
        if total:
            per_class.append({"served_label": lab, "n": total, "agreement": row[lab] / total,
                              "challenger_labels": {k: v for k, v in row.items() if v}})
    shift = _probability_shift(recs, probs, challenger.labels)
    n = len(recs)
    agree = sum(a == b for a, b in zip(served, ch_labels))
    return {
        "challenger": challenger.ref, "variant": challenger.variant, "n": n,
        "served_versions": dict(Counter(f"{r.get('model')}:{r.get('version')}" for r in recs)),
        "agreement": agree / n, "disagreements": n - agree,
        "served_distribution": {k: v / n for k, v in Counter(served).items()},
        "challenger_distribution": {k: v / n for k, v in Counter(ch_labels).items()},
        "per_class": per_class, "table": table, "labels": names,
        "mean_abs_probability_shift": shift,
        "window": win.summary(),
    }


def _probability_shift(recs: list[dict], probs: np.ndarray, labels: list[str]) -> float | None:
    """Mean |p_challenger - p_served| over labels both know. probs # (N, L)"""
    diffs = []
    for rec, row in zip(recs, probs):
        logged = rec["probabilities"]
        diffs += [abs(float(row[i]) - float(logged[lab])) for i, lab in enumerate(labels) if lab in logged]
    return float(np.mean(diffs)) if diffs else None
