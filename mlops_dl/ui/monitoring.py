"""The monitoring page: drift, class mix, latency and low confidence per time slice of the log."""

from __future__ import annotations

from mlops_dl.monitor import monitor_slices
from mlops_dl.ui import charts

WARN, ALARM, REFERENCE = "#d97706", "#dc2626", "#6b7280"  # threshold lines
MIN_SLICE_PREDICTIONS = 10  # fewer in a slice: its PSI is noise (one prediction reads as ~12)


def _psi_rows(slices: list[dict]) -> list[dict]:
    return [{"time": s["window"]["since"], "statistic": c["name"], "psi": c["psi"]}
            for s in slices if s.get("n", 0) >= MIN_SLICE_PREDICTIONS for c in s["checks"]]


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


def monitoring_page(logs: list[str], canvas, registry, ref: str | None, slices: int) -> dict:
    """The report of the whole window plus the per-slice charts."""
    result = monitor_slices(logs, canvas, registry, ref, slices)
    th = canvas.monitoring
    parts = result["slices"]
    out = {"ref": result["ref"], "window": result["window"], "overall": result["overall"],
           "slices": len(parts), "charts": {},
           "thin_slices": sum(1 for s in parts if s.get("n", 0) < MIN_SLICE_PREDICTIONS)}
    if not parts:
        return out
    psi = _psi_rows(parts)
    if psi:
        out["charts"]["psi"] = charts.lines_over_time(
            f"PSI per statistic and time slice (slices of {MIN_SLICE_PREDICTIONS}+ predictions)",
            psi, "psi", "statistic", "PSI",
            [{"value": th.psi_warn, "label": f"warn {th.psi_warn}", "color": WARN},
             {"value": th.psi_alarm, "label": f"alarm {th.psi_alarm}", "color": ALARM}],
            y_scale="symlog")
    mix = _mix_rows(parts)
    if mix:
        out["charts"]["mix"] = charts.class_mix(mix)
    lat = _latency_rows(parts)
    if lat:
        out["charts"]["latency"] = charts.lines_over_time(
            "request latency percentiles", lat, "ms", "percentile", "ms")
    low = _low_conf_rows(parts)
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
