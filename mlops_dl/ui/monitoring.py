"""The monitoring page: estimated vs measured F1, drift, class mix, latency and low confidence per
time slice of the log; slices with too few predictions greyed out, never plotted."""

from __future__ import annotations

from mlops_dl.monitor import monitor_slices
from mlops_dl.ui import charts

WARN, ALARM, REFERENCE = "#d97706", "#dc2626", "#6b7280"  # threshold lines


def _psi_rows(slices: list[dict]) -> list[dict]:
    return [{"time": s["window"]["since"], "statistic": c["name"], "psi": c["psi"]}
            for s in slices for c in s["checks"]]  # slices of too few predictions are left out


def _mix_rows(slices: list[dict]) -> list[dict]:
    rows = []
    for s in slices:
        check = next((c for c in s["checks"] if c["name"] == "predicted_label"), None)
        if check:
            rows += [{"time": s["window"]["since"], "label": lab, "share": share}
                     for lab, share in zip(check["labels"], check["live_shares"])]
    return rows


def _latency_rows(slices: list[dict]) -> list[dict]:
    return [{"time": s["window"]["since"], "percentile": p, "ms": s["latency"][f"{p}_ms"]}
            for s in slices if s["latency"].get("requests") for p in ("p50", "p95", "p99")]


def _low_conf_rows(slices: list[dict]) -> list[dict]:
    return [{"time": s["window"]["since"], "series": "low-confidence share",
             "share": s["low_confidence"]["share"]} for s in slices
            if s["low_confidence"]["share"] is not None]


def _f1_rows(slices: list[dict]) -> list[dict]:
    """Estimated (with interval) and measured macro-F1 per slice; slices with too few
    predictions are left out (the slice table greys them)."""
    rows = []
    for s in slices:
        perf = s.get("performance")
        if not perf or s.get("too_few") or perf["estimated"]["macro_f1"] is None:
            continue
        est, t = perf["estimated"], s["window"]["since"]
        lo, hi = est["interval"] or (None, None)
        rows.append({"time": t, "series": "estimated (no labels)", "f1": est["macro_f1"],
                     "lo": lo, "hi": hi})
        if perf.get("realised"):
            rows.append({"time": t, "series": f"measured on {perf['realised']['n']} feedback labels",
                         "f1": perf["realised"]["macro_f1"], "lo": None, "hi": None})
    return rows


def _f1_rules(overall: dict) -> list[dict]:
    perf = overall.get("performance") or {}
    rules = []
    if perf.get("threshold") is not None:
        rules.append({"value": perf["threshold"], "label": f"canvas threshold {perf['threshold']}",
                      "color": ALARM})
    if (perf.get("test") or {}).get("macro_f1") is not None:
        f1 = perf["test"]["macro_f1"]
        rules.append({"value": f1, "label": f"measured on the test split {f1:.3f}", "color": REFERENCE})
    return rules


def monitoring_page(logs: list[str], canvas, registry, ref: str | None, slices: int) -> dict:
    """The report of the whole window plus the per-slice charts."""
    result = monitor_slices(logs, canvas, registry, ref, slices)
    th = canvas.monitoring
    parts = result["slices"]
    shown = [s for s in parts if not s.get("too_few")]  # too few predictions: never plotted
    out = {"ref": result["ref"], "window": result["window"], "overall": result["overall"],
           "slices": len(parts), "charts": {}, "slice_rows": [],
           "min_slice": th.min_slice_predictions, "thin_slices": len(parts) - len(shown)}
    if not parts:
        return out
    f1 = _f1_rows(shown)
    if f1:
        out["charts"]["f1"] = charts.estimate_over_time(
            "macro-F1 per time slice: estimated (95 % interval) and measured",
            f1, _f1_rules(result["overall"]))
    out["slice_rows"] = [{"since": s["window"]["since"], "n": s["n"], "status": s["status"],
                          "too_few": s.get("too_few", False),
                          "estimated": ((s.get("performance") or {}).get("estimated") or {}),
                          "realised": (s.get("performance") or {}).get("realised")} for s in parts]
    out["charts"]["psi"] = charts.lines_over_time(
        f"PSI per statistic and time slice (slices of {th.min_slice_predictions}+ predictions)",
        _psi_rows(shown), "psi", "statistic", "PSI",
        [{"value": th.psi_warn, "label": f"warn {th.psi_warn}", "color": WARN},
         {"value": th.psi_alarm, "label": f"alarm {th.psi_alarm}", "color": ALARM}], y_scale="symlog")
    mix = _mix_rows(shown)
    if mix:
        out["charts"]["mix"] = charts.class_mix(mix)
    lat = _latency_rows(shown)
    if lat:
        out["charts"]["latency"] = charts.lines_over_time(
            "request latency percentiles", lat, "ms", "percentile", "ms")
    low = _low_conf_rows(shown)
    if low:
        ref = result["overall"]["low_confidence"].get("reference_share")
        rules = [] if ref is None else [
            {"value": ref, "label": f"reference {ref:.2f}", "color": REFERENCE},
            {"value": ref + th.low_confidence_increase_alarm,
             "label": f"alarm (+{th.low_confidence_increase_alarm})", "color": ALARM}]
        out["charts"]["low_confidence"] = charts.lines_over_time(
            f"share of predictions with margin < {th.low_margin}", low, "share", "series",
            "share", rules or None)
    return out
