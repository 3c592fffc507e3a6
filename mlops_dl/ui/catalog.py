"""What the models, model and version pages show, read through ``mlops_dl.registry``."""

from __future__ import annotations

from mlops_dl.errors import RegistryError
from mlops_dl.gates.accept import ATTACHMENT as ACCEPTANCE
from mlops_dl.gates.compare import quantization_delta
from mlops_dl.gates import figures
from mlops_dl.registry import ModelVersion, Registry, acceptance, layout
from mlops_dl.ui import charts

PRODUCTION = "production"
GATE_MOVES = ("promoted", "forced")  # promotions.jsonl decisions that moved an alias


def stored_json(mv: ModelVersion, name: str) -> dict:
    """A JSON file of the version ({} when absent or unreadable: the page says what it lacks)."""
    try:
        data = mv.read_json(name)
    except RegistryError:
        return {}
    return data if isinstance(data, dict) else {}


def _by_version(aliases: dict[str, int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for alias, version in aliases.items():
        out.setdefault(version, []).append(alias)
    return out


def models_overview(reg: Registry) -> list[dict]:
    """One row per model: versions, aliases, the production version and its test macro-F1."""
    rows = []
    for name in reg.list_models():
        versions = reg.list_versions(name)
        aliases = reg.aliases(name)
        prod = aliases.get(PRODUCTION)
        shown = next((mv for mv in versions if mv.version == prod), versions[-1])
        test = stored_json(shown, layout.METRICS).get("test", {})
        rows.append({"name": name, "versions": len(versions), "latest": versions[-1].version,
                     "aliases": aliases, "production": prod, "shown": shown.version,
                     "test_macro_f1": test.get("macro_f1")})
    return rows


def _bench_headline(bench: dict) -> dict:
    """Engines measured and the batch-1 latency of the default servable (onnxruntime's
    batch-invariant int8, else fp32; an older bench's dynamic int8 row last)."""
    engines = bench.get("engines") or {}
    pick = next((engines[k] for k in ("onnx-int8-static", "onnx-int8-nncf", "onnx-fp32",
                                      "onnx-int8") if k in engines), {})
    b1 = pick.get("batch1") or {}
    return {"engines": sorted(engines), "p50_ms": b1.get("p50_ms"), "p95_ms": b1.get("p95_ms")}


def version_row(mv: ModelVersion, aliases: list[str]) -> dict:
    """One line of the versions table."""
    metrics = stored_json(mv, layout.METRICS)
    test = metrics.get("test", {})
    per_class = test.get("per_class") or {}
    weakest = min(per_class.items(), key=lambda kv: kv[1].get("f1", 1.0), default=None)
    acc = mv.attachment(ACCEPTANCE) or {}
    variants = mv.meta.get("variants", {})
    size = sum(mv.size(f) for f in variants.values() if mv.has(f))
    return {"version": mv.version, "ref": mv.ref, "created": mv.meta.get("created"),
            "aliases": aliases, "tags": mv.tags, "test_macro_f1": test.get("macro_f1"),
            "val_macro_f1": metrics.get("validation", {}).get("macro_f1"),
            "weakest": {"label": weakest[0], "f1": weakest[1].get("f1")} if weakest else None,
            "variants": sorted(variants), "size_bytes": size,
            **_bench_headline(mv.attachment(layout.BENCH) or {}),
            "accepted": acc.get("passed") if acc else None, "accepted_on": acc.get("date")}


def model_page(reg: Registry, name: str) -> dict:
    """The versions table, the metric-across-versions chart and the alias history."""
    versions = reg.list_versions(name)
    if not versions:
        raise RegistryError(f"no model named {name!r} in registry {reg.root}")
    aliases = reg.aliases(name)
    audit = reg.read_audit(name)
    by_version = _by_version(aliases)
    rows = [version_row(mv, by_version.get(mv.version, [])) for mv in versions]
    measure, points = figures.chart_measure({mv.version: figures.version_figures(mv)
                                             for mv in versions})
    return {"name": name, "rows": rows[::-1], "aliases": aliases,
            "history": alias_history(reg, name, {mv.version for mv in versions}, audit),
            "refusals": [e for e in reversed(audit) if e.get("decision") == "refused"],
            "metric_chart": charts.metric_across_versions(points, measure)}


def alias_history(reg: Registry, name: str, existing: set[int], audit: list[dict]) -> list[dict]:
    """Every move of the model's aliases (``Registry.history``), newest first; a promote carries
    its gate decision (promoted / forced, with problems) from promotions.jsonl; ``rollback_to`` on the moves
    whose target still exists and is not where the alias points now."""
    current = reg.aliases(name)
    names = sorted(set(current) | {str(e["alias"]) for e in audit if e.get("alias")})
    moves = [rec for alias in names for rec in reg.history(name, alias)]
    out = []
    for rec in sorted(moves, key=lambda r: str(r.get("at", "")), reverse=True):
        alias, to = rec.get("alias"), rec.get("to")
        can = to in existing and alias in current and current[alias] != to
        out.append({**rec, "gate": _gate_decision(audit, rec) if rec.get("action") in ("promote", "forced") else None,
                    "rollback_to": to if can else None})
    return out


def _gate_decision(audit: list[dict], move: dict) -> dict | None:
    """The promotions.jsonl decision dated just before this promote (same alias and version):
    promoted, or forced with the problems it overrode."""
    at = str(move.get("at", ""))[:19]
    for entry in reversed(audit):
        if (entry.get("alias") == move.get("alias") and entry.get("decision") in GATE_MOVES
                and str(entry.get("ref", "")).rpartition(":")[2] == str(move.get("to"))
                and str(entry.get("date", ""))[:19] <= at):
            return entry
    return None


def version_card(reg: Registry, name: str, version: int) -> dict:
    """Model card: lineage, export checks, bench, confusion matrix, per-class, acceptance."""
    mv = reg.get(f"{name}:{version}", verify=False)
    metrics = stored_json(mv, layout.METRICS)
    split = "test" if "test" in metrics else "validation"
    report = metrics.get(split, {})
    labels = report.get("labels") or mv.meta.get("labels", [])
    bench = mv.attachment(layout.BENCH) or {}
    return {"mv": mv, "meta": mv.meta, "aliases": [a for a, v in reg.aliases(name).items() if v == version],
            "tags": mv.tags, "lineage": stored_json(mv, layout.LINEAGE),
            "validation": stored_json(mv, layout.VALIDATION), "split": split, "report": report,
            "acceptance": mv.attachment(ACCEPTANCE),
            "servables": (acceptance.read(mv).servables if acceptance.read(mv) else {}),
            "bench": bench, "int8": quantization_delta(mv),
            "config": mv.read_text(layout.CONFIG) if mv.has(layout.CONFIG) else None,
            "charts": _card_charts(report, labels, bench)}


def _card_charts(report: dict, labels: list[str], bench: dict) -> dict:
    out = {}
    cm = report.get("confusion_matrix")
    if cm and labels:
        cells = []
        for i, gold in enumerate(labels):
            total = max(sum(cm[i]), 1)
            cells += [{"gold": gold, "predicted": pred, "count": cm[i][j], "share": cm[i][j] / total}
                      for j, pred in enumerate(labels)]
        out["confusion"] = charts.heatmap("confusion matrix (rows: gold)", cells, "predicted", "gold",
                                          "share", "count", "predicted", "gold", [0, 1])
    per_class = report.get("per_class") or {}
    if per_class:
        rows = [{"label": lab, "metric": m, "value": v.get(m)} for lab, v in per_class.items()
                for m in ("precision", "recall", "f1")]
        out["per_class"] = charts.grouped_bars("per-class precision / recall / F1", rows, "label",
                                               "value", "metric", "score", [0, 1])
    rows = [{"engine": engine, "percentile": p, "ms": (e.get("batch1") or {}).get(f"{p}_ms")}
            for engine, e in (bench.get("engines") or {}).items() for p in ("p50", "p95", "p99")]
    rows = [r for r in rows if r["ms"] is not None]
    if rows:
        out["bench"] = charts.grouped_bars("batch-1 latency per engine (bench.json)", rows,
                                           "engine", "ms", "percentile", "ms")
    return out


def verify_state(reg: Registry, name: str, version: int) -> str | None:
    """None when the version's checksums hold, else the registry's message naming the files."""
    try:
        reg.verify(f"{name}:{version}")
    except RegistryError as e:
        return str(e)
    return None
