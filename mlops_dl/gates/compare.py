"""Compare two registry versions: metrics, per-class F1, size, validation, bench, McNemar.

Torch-free (registry + numpy + metrics); ``write_png`` imports matplotlib lazily.
Predictions come from each version's ``eval_samples.jsonl`` and are matched by text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlops_dl.errors import RegistryError
from mlops_dl.gates import figures
from mlops_dl.metrics import f1_change_points, mcnemar
from mlops_dl.registry import ModelVersion, Registry, layout

METRIC_KEYS = ("accuracy", "macro_f1", "macro_precision", "macro_recall")
VALIDATION_KEYS = ("max_abs_logit_diff", "label_agreement", "macro_f1", "f1_change_points")
# bench.json keys worth a table row (the rest stays in --json)
BENCH_HEADLINE = ("batch1.p50_ms", "batch1.p99_ms", "stream_sorted.sent_per_s",
                  "stream_tokens.sent_per_s", "macro_f1", "peak_rss_mb", "stream_speedup",
                  "b1_p50_speedup", "f1_loss_pts")


def compare(registry: Registry, ref_a: str, ref_b: str, variant: str | None = None) -> dict:
    """Everything `registry compare` shows, as one JSON-ready dict."""
    a, b = registry.get(ref_a), registry.get(ref_b)
    variant = variant or _common_variant(a, b)
    figs = {"a": figures.version_figures(a), "b": figures.version_figures(b)}
    shared, what = test_agreement(a, b)
    if shared is None:
        shared, what = sample_agreement(a, b, variant), "validation"
    return {
        "verdict": figures.verdict(a.ref, b.ref, shared, what),
        "verdict_stats": {**shared, "split": what},
        "figures": figs,
        "a": _summary(a),
        "b": _summary(b),
        "variant": variant,
        "metrics": {split: _metric_rows(a, b, split, figs) for split in ("validation", "test")},
        "per_class_f1": _per_class_rows(a, b, "test"),
        "validation": _validation_rows(a, b),
        "bench": _bench_rows(a, b),
        "samples": sample_agreement(a, b, variant),
    }


def _common_variant(a: ModelVersion, b: ModelVersion) -> str:
    """The eval-samples variant both versions hold (the samples carry pred_by_variant)."""
    shared = set(a.meta.get("variants", {})) & set(b.meta.get("variants", {}))
    for name in ("int8", "int8-static", "int8-nncf", "fp32"):
        if name in shared:
            return name
    raise RegistryError(f"{a.ref} and {b.ref} share no ONNX variant (have: "
                        f"{', '.join(a.meta.get('variants', {})) or 'none'} / "
                        f"{', '.join(b.meta.get('variants', {})) or 'none'})")


def _summary(mv: ModelVersion) -> dict:
    variants = mv.meta.get("variants", {})
    lineage = mv.lineage
    return {
        "ref": mv.ref,
        "created": mv.meta.get("created"),
        "opset": mv.meta.get("opset"),
        "optimized": mv.meta.get("optimized"),
        "base_model": lineage.get("base_model"),
        "run_id": lineage.get("run_id"),
        "size_bytes": {v: mv.size(f) for v, f in variants.items()},
    }


def _row(key: str, va: Any, vb: Any) -> dict:
    both = isinstance(va, (int, float)) and isinstance(vb, (int, float))
    return {"key": key, "a": va, "b": vb, "delta": (vb - va) if both else None}


def _metric_rows(a: ModelVersion, b: ModelVersion, split: str, figs: dict) -> list[dict]:
    """Rows of one split with n beside; a delta only when both figures are comparable."""
    ma = (a.read_json(layout.METRICS) or {}).get(split, {})
    mb = (b.read_json(layout.METRICS) or {}).get(split, {})
    fa, fb = figs["a"][split], figs["b"][split]
    same = figures.comparable(fa, fb)
    rows = [{**_row(k, ma.get(k), mb.get(k)), **({} if same else {"delta": None})}
            for k in METRIC_KEYS if k in ma or k in mb]
    if rows:
        rows.insert(0, {"key": "n (PyTorch)", "a": fa["n"], "b": fb["n"], "delta": None,
                        "note": "" if same else "not comparable: " + (
                            "n differ" if fa["n"] != fb["n"] else "a partial figure")})
    return rows


def test_agreement(a: ModelVersion, b: ModelVersion) -> tuple[dict | None, str]:
    """Agreement and McNemar on the frozen test split, from each version's acceptance record
    (its served servable) when both scored the same split; (None, "") otherwise."""
    from mlops_dl.errors import MlopsError
    from mlops_dl.gates.accept import load_test_split
    from mlops_dl.registry import acceptance

    ra, rb = acceptance.read(a), acceptance.read(b)
    if not ra or not rb or not ra.fingerprint or ra.fingerprint != rb.fingerprint:
        return None, ""
    pa, pb = _served_predictions(ra), _served_predictions(rb)
    try:
        split = load_test_split(a)
    except MlopsError:
        return None, ""
    if pa is None or pb is None or not len(pa) == len(pb) == len(split.gold):
        return None, ""
    n = len(split.gold)
    return {"n_shared": n, "agreement": sum(x == y for x, y in zip(pa, pb)) / n,
            "accuracy_a": sum(x == g for x, g in zip(pa, split.gold)) / n,
            "accuracy_b": sum(x == g for x, g in zip(pb, split.gold)) / n,
            "mcnemar": mcnemar(split.gold, pa, pb)}, "test"


def _served_predictions(record) -> list[int] | None:
    """The test predictions of the servable the record's canvas serves (else the first
    accepted one)."""
    key = record.raw.get("canvas_servable")
    if key not in record.servables:
        key = next(iter(record.accepted), None)
    row = record.result(key) if key else None
    return [int(p) for p in row["test_predictions"]] if row and row.get("test_predictions") else None


def _per_class_rows(a: ModelVersion, b: ModelVersion, split: str) -> list[dict]:
    pa = (a.read_json(layout.METRICS) or {}).get(split, {}).get("per_class", {})
    pb = (b.read_json(layout.METRICS) or {}).get(split, {}).get("per_class", {})
    labels = list(dict.fromkeys([*pa, *pb]))
    return [_row(lab, pa.get(lab, {}).get("f1"), pb.get(lab, {}).get("f1")) for lab in labels]


def _validation_rows(a: ModelVersion, b: ModelVersion) -> list[dict]:
    va = (a.read_json(layout.VALIDATION) or {}).get("variants", {})
    vb = (b.read_json(layout.VALIDATION) or {}).get("variants", {})
    rows = []
    for variant in dict.fromkeys([*va, *vb]):
        ca = {**va.get(variant, {}), "f1_change_points": f1_change_points(va.get(variant, {}))}
        cb = {**vb.get(variant, {}), "f1_change_points": f1_change_points(vb.get(variant, {}))}
        for key in VALIDATION_KEYS:
            x, y = ca.get(key), cb.get(key)
            if x is not None or y is not None:
                rows.append(_row(f"{variant}.{key}", x, y))
    return rows


def _flatten(data: Any, prefix: str = "") -> dict[str, float]:
    if isinstance(data, dict):
        out: dict[str, float] = {}
        for k, v in data.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    if isinstance(data, (int, float)) and not isinstance(data, bool):
        return {prefix.rstrip("."): data}
    return {}


def _bench_rows(a: ModelVersion, b: ModelVersion) -> list[dict]:
    fa, fb = _flatten(a.attachment(layout.BENCH) or {}), _flatten(b.attachment(layout.BENCH) or {})
    return [_row(k, fa.get(k), fb.get(k)) for k in dict.fromkeys([*fa, *fb])]


def headline_bench(rows: list[dict]) -> list[dict]:
    """The bench rows a person reads first: latency, throughput, F1, memory, speed-ups."""
    return [r for r in rows if r["key"].endswith(BENCH_HEADLINE) and ".targets." not in r["key"]
            and ".shapes." not in r["key"]]


def read_samples(mv: ModelVersion) -> list[dict]:
    rows = mv.read_jsonl(layout.EVAL_SAMPLES)
    if rows is None:
        raise RegistryError(f"{mv.ref} has no {layout.EVAL_SAMPLES}; re-export it to compare")
    return rows


def _prediction(row: dict, variant: str) -> str:
    return row.get("pred_by_variant", {}).get(variant, row["pred"])


def sample_agreement(a: ModelVersion, b: ModelVersion, variant: str) -> dict:
    """Label agreement and McNemar's test of A vs B on the eval texts both versions stored."""
    rows_a = {r["text"]: r for r in read_samples(a)}
    rows_b = {r["text"]: r for r in read_samples(b)}
    shared = [t for t in rows_a if t in rows_b]
    if not shared:
        return {"n_shared": 0, "agreement": None, "mcnemar": None, "accuracy_a": None,
                "accuracy_b": None}
    names = list(dict.fromkeys([*a.meta.get("labels", []), *b.meta.get("labels", [])]))
    index = {n: i for i, n in enumerate(names)}

    def ids(rows: dict, key) -> list[int]:
        return [index.setdefault(key(rows[t]), len(index)) for t in shared]

    gold = ids(rows_a, lambda r: r["label"])
    pred_a = ids(rows_a, lambda r: _prediction(r, variant))
    pred_b = ids(rows_b, lambda r: _prediction(r, variant))
    n = len(shared)
    return {
        "n_shared": n,
        "agreement": sum(x == y for x, y in zip(pred_a, pred_b)) / n,
        "accuracy_a": sum(x == g for x, g in zip(pred_a, gold)) / n,
        "accuracy_b": sum(x == g for x, g in zip(pred_b, gold)) / n,
        "mcnemar": mcnemar(gold, pred_a, pred_b),
    }


def _confidence(row: dict, label: str) -> float | None:
    """P(label) from the row's stored probabilities (of the variant it was scored with) when
    that variant also predicted ``label``; else None (its probabilities say another label)."""
    stored = row.get("variant")
    same = _prediction(row, stored) == label if stored else row.get("pred") == label
    return (row.get("probabilities") or {}).get(label) if same else None


def flipped_examples(a: ModelVersion, b: ModelVersion, variant: str) -> list[dict]:
    """The stored eval texts on which A and B predict different labels (matched by text)."""
    rows_b = {r["text"]: r for r in read_samples(b)}
    out = []
    for text, ra in {r["text"]: r for r in read_samples(a)}.items():
        rb = rows_b.get(text)
        if rb is None:
            continue
        la, lb = _prediction(ra, variant), _prediction(rb, variant)
        if la != lb:
            out.append({"text": text, "gold": ra.get("label"), "a": la, "b": lb,
                        "a_confidence": _confidence(ra, la), "b_confidence": _confidence(rb, lb)})
    return out


def quantization_delta(mv: ModelVersion) -> dict | None:
    """int8 vs fp32 of one version: macro-F1 change (validation.json) and label flips
    (eval_samples.jsonl); None for a version without both variants."""
    if not {"fp32", "int8"} <= set(mv.meta.get("variants", {})):
        return None
    checks = (mv.read_json(layout.VALIDATION) or {}).get("variants", {})
    f1 = {v: checks.get(v, {}).get("macro_f1") for v in ("fp32", "int8")}
    try:
        rows = [r for r in read_samples(mv) if {"fp32", "int8"} <= set(r.get("pred_by_variant", {}))]
    except RegistryError:
        rows = []
    flips = sum(r["pred_by_variant"]["fp32"] != r["pred_by_variant"]["int8"] for r in rows)
    both = None not in f1.values()
    return {"fp32_macro_f1": f1["fp32"], "int8_macro_f1": f1["int8"],
            "delta_macro_f1": f1["int8"] - f1["fp32"] if both else None,
            "label_flips": flips if rows else None, "n": len(rows)}


def write_png(result: dict, path: str | Path) -> Path:
    """Bar charts: metrics (validation, test) and per-class test F1, A next to B."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [("validation", result["metrics"]["validation"]), ("test", result["metrics"]["test"]),
              ("per-class F1 (test)", result["per_class_f1"])]
    groups = [(t, rows) for t, rows in groups if rows]
    fig, axes = plt.subplots(1, max(len(groups), 1), figsize=(5 * max(len(groups), 1), 4))
    axes = axes if hasattr(axes, "__len__") else [axes]
    for ax, (title, rows) in zip(axes, groups):
        xs = range(len(rows))
        for offset, side in ((-0.2, "a"), (0.2, "b")):
            vals = [r[side] or 0.0 for r in rows]
            ax.bar([x + offset for x in xs], vals, width=0.4, label=result[side]["ref"])
        ax.set_xticks(list(xs), [r["key"] for r in rows], rotation=30, ha="right")
        ax.set_ylim(0, 1)
        ax.set_title(title)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
