"""Compare 2..N versions of one model: metadata, per-class F1, bench, agreement, flipped examples.

The pairwise figures (agreement, McNemar, flipped examples, int8 deltas) come from
``mlops_dl.gates.compare`` on the validation predictions each version stored at export.
"""

from __future__ import annotations

from collections import Counter
from itertools import combinations

from mlops_dl.errors import MlopsError, RegistryError
from mlops_dl.gates.compare import flipped_examples, quantization_delta, sample_agreement
from mlops_dl.registry import ModelVersion, Registry, layout
from mlops_dl.ui import charts
from mlops_dl.ui.catalog import stored_json

MAX_VERSIONS = 8
MAX_FLIPS = 200  # flipped examples listed per request (all are counted)


def load_versions(reg: Registry, name: str, versions: list[int]) -> list[ModelVersion]:
    """The versions to compare: 2..MAX_VERSIONS distinct ones that exist."""
    versions = list(dict.fromkeys(versions))
    if not 2 <= len(versions) <= MAX_VERSIONS:
        raise MlopsError(f"compare needs 2 to {MAX_VERSIONS} distinct versions (?v=1&v=2), "
                         f"got {len(versions)}")
    return [reg.get(f"{name}:{v}", verify=False) for v in versions]


def common_variant(mvs: list[ModelVersion]) -> str:
    shared = set.intersection(*(set(mv.meta.get("variants", {})) for mv in mvs))
    return "int8" if "int8" in shared else "fp32"


def _short(value) -> str:
    """A sha256 / git sha cut to 12 hex digits (still unique enough to tell versions apart)."""
    hexdigits = isinstance(value, str) and len(value) in (40, 64) and all(
        c in "0123456789abcdef" for c in value)
    return value[:12] if hexdigits else value


def _metadata(mv: ModelVersion, tags: dict) -> dict:
    lineage, metrics = stored_json(mv, layout.LINEAGE), stored_json(mv, layout.METRICS)
    variants = mv.meta.get("variants", {})
    row = {"created": mv.meta.get("created"), "variants": ", ".join(sorted(variants)),
           "labels": ", ".join(mv.meta.get("labels", [])), "max_length": mv.meta.get("max_length"),
           "opset": mv.meta.get("opset"), "optimized": mv.meta.get("optimized"),
           "exporter": mv.meta.get("exporter"), "run": lineage.get("run_id"),
           "base model": lineage.get("base_model"), "git commit": _short(lineage.get("git_commit"))}
    for split, fp in (lineage.get("data_fingerprints") or {}).items():
        row[f"data {split} fingerprint"] = _short(fp)
    for v, f in sorted(variants.items()):
        row[f"{v} size"] = f"{mv.size(f) / 1e6:.1f} MB" if mv.has(f) else None
    for split in ("validation", "test"):
        for key in ("accuracy", "macro_f1"):
            row[f"{split} {key}"] = (metrics.get(split) or {}).get(key)
    row.update({f"tag {k}": v for k, v in tags.items()})
    return row


def metadata_rows(mvs: list[ModelVersion], diff_only: bool) -> list[dict]:
    """[{key, values: [...per version], same}] in a stable key order."""
    cols = [_metadata(mv, mv.tags) for mv in mvs]
    keys = list(dict.fromkeys(k for c in cols for k in c))
    rows = []
    for key in keys:
        values = [c.get(key) for c in cols]
        same = all(v == values[0] for v in values)
        if not (diff_only and same):
            rows.append({"key": key, "values": values, "same": same})
    return rows


def _bench_rows(mvs: list[ModelVersion]) -> tuple[list[dict], list[dict]]:
    latency, throughput = [], []
    for mv in mvs:
        for engine, e in ((mv.attachment(layout.BENCH) or {}).get("engines") or {}).items():
            p50 = (e.get("batch1") or {}).get("p50_ms")
            if p50 is not None:
                latency.append({"engine": engine, "version": mv.ref, "p50_ms": p50})
            for shape, s in (e.get("shapes") or {}).items():
                if isinstance(s, dict) and s.get("sent_per_s") is not None:
                    throughput.append({"engine_shape": f"{engine} {shape}", "version": mv.ref,
                                       "sent_per_s": s["sent_per_s"]})
    return latency, throughput


def agreement(mvs: list[ModelVersion], variant: str) -> tuple[list[dict], list[dict]]:
    """Pairwise rows (agreement, McNemar, accuracies) and the matrix cells for the heatmap."""
    pairs, cells = [], [{"a": mv.ref, "b": mv.ref, "agreement": 1.0, "text": "100%"} for mv in mvs]
    for a, b in combinations(mvs, 2):
        try:
            s = sample_agreement(a, b, variant)
        except RegistryError as e:
            pairs.append({"a": a.ref, "b": b.ref, "error": str(e)})
            continue
        pairs.append({"a": a.ref, "b": b.ref, **s})
        if s["agreement"] is not None:
            text = f"{s['agreement']:.0%}"
            cells += [{"a": a.ref, "b": b.ref, "agreement": s["agreement"], "text": text},
                      {"a": b.ref, "b": a.ref, "agreement": s["agreement"], "text": text}]
    return pairs, cells


def flips(mvs_by_version: dict[int, ModelVersion], a: int, b: int, variant: str,
          from_label: str | None = None, to_label: str | None = None) -> dict:
    """Flipped examples of A vs B, counted per (A label, B label) and filtered by that pair."""
    if a not in mvs_by_version or b not in mvs_by_version or a == b:
        raise MlopsError(f"flipped examples need two of the compared versions, got a={a} b={b}")
    try:
        rows = flipped_examples(mvs_by_version[a], mvs_by_version[b], variant)
    except RegistryError as e:
        return {"a": a, "b": b, "error": str(e), "rows": [], "pairs": [], "total": 0}
    counts = Counter((r["a"], r["b"]) for r in rows)
    shown = [r for r in rows if (not from_label or r["a"] == from_label)
             and (not to_label or r["b"] == to_label)]
    return {"a": a, "b": b, "from": from_label or "", "to": to_label or "", "total": len(rows),
            "matching": len(shown), "rows": shown[:MAX_FLIPS],
            "pairs": [{"from": k[0], "to": k[1], "n": n} for k, n in counts.most_common()]}


def verdicts(mvs: list[ModelVersion], variant: str) -> list[str]:
    """The CLI's verdict line for each version against the first (shared texts only)."""
    from mlops_dl.gates import compare as cmp
    from mlops_dl.gates.figures import verdict

    out = []
    for mv in mvs[1:]:
        stats, what = cmp.test_agreement(mvs[0], mv)
        if stats is None:
            stats, what = cmp.sample_agreement(mvs[0], mv, variant), "validation"
        out.append(verdict(mvs[0].ref, mv.ref, stats, what))
    return out


def compare_page(reg: Registry, name: str, versions: list[int], variant: str | None = None,
                 diff_only: bool = False) -> dict:
    mvs = load_versions(reg, name, versions)
    variant = variant or common_variant(mvs)
    per_class = [{"label": lab, "version": mv.ref, "f1": v.get("f1")}
                 for mv in mvs for lab, v in
                 ((stored_json(mv, layout.METRICS).get("test") or {}).get("per_class") or {}).items()]
    latency, throughput = _bench_rows(mvs)
    pairs, cells = agreement(mvs, variant)
    out = {"name": name, "mvs": mvs, "versions": [mv.version for mv in mvs], "variant": variant,
           "verdicts": verdicts(mvs, variant),
           "diff_only": diff_only, "meta_rows": metadata_rows(mvs, diff_only), "pairs": pairs,
           "int8": [{"ref": mv.ref, **(quantization_delta(mv) or {})} for mv in mvs],
           "labels": list(dict.fromkeys(lab for mv in mvs for lab in mv.meta.get("labels", []))),
           "charts": {}}
    if per_class:
        out["charts"]["per_class"] = charts.grouped_bars("per-class F1 (test)", per_class, "label",
                                                         "f1", "version", "F1", [0, 1])
    if latency:
        out["charts"]["latency"] = charts.grouped_bars("batch-1 p50 latency per engine", latency,
                                                       "engine", "p50_ms", "version", "ms")
    if throughput:
        out["charts"]["throughput"] = charts.grouped_bars(
            "throughput per engine and shape", throughput, "engine_shape", "sent_per_s", "version",
            "sentences / s")
    if len(cells) > len(mvs):
        out["charts"]["agreement"] = charts.heatmap(
            f"label agreement on the stored validation predictions ({variant})", cells, "b", "a",
            "agreement", "text", None, None, [0, 1])
    return out
