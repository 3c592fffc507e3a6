"""Compare a window of logged predictions with the reference stats; raise alarms by the canvas.

Checks: predicted label distribution (PSI + chi-square), confidence (PSI + KS), text length in
characters and tokens (PSI + KS), [UNK] token share, and the rise of the share of
low-confidence predictions (margin = top-1 minus top-2 probability below monitoring.low_margin)
over that share in the reference.
Text-based checks are skipped (with a note) when the log holds hashes instead of texts.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from mlops_dl.metrics import latency_percentiles
from mlops_dl.monitor import drift
from mlops_dl.monitor.reference import reference_margins, token_stats
from mlops_dl.monitor.window import LogWindow

BUCKETS_S = (60, 300, 900, 3600, 3 * 3600, 6 * 3600, 86400, 7 * 86400)
MAX_BUCKETS = 48


def _binned_check(name: str, ref: dict, values: np.ndarray, th) -> dict:
    live = drift.bin_counts(values, ref["bin_edges"])  # K bins + overflow
    ref_counts = [*ref["counts"], 0]
    p = drift.psi(ref_counts, live)
    test = drift.ks(ref.get("values", []), values)
    return {"name": name, "kind": "binned", "psi": p, "test": "ks", **_test_fields(test),
            "reference_counts": ref_counts, "live_counts": live, "bin_edges": ref["bin_edges"],
            "reference_mean": float(np.mean(ref["values"])) if ref.get("values") else None,
            "live_mean": float(values.mean()),
            "status": drift.status(p, test["p_value"], psi_warn=th.psi_warn,
                                   psi_alarm=th.psi_alarm, p_alpha=th.p_value)}


def _test_fields(test: dict) -> dict:
    return {"statistic": test["statistic"], "p_value": test["p_value"]}


def label_check(ref: dict, records: list[dict], th) -> dict:
    labels = ref["labels"]
    counts = Counter(r["label"] for r in records)
    live = [counts.get(lab, 0) for lab in labels]
    shares = [ref["label_distribution"][lab] for lab in labels]
    p = drift.psi(shares, live)
    test = drift.chi_square(shares, live)
    n = max(sum(live), 1)
    return {"name": "predicted_label", "kind": "categorical", "psi": p, "test": "chi-square",
            **_test_fields(test), "labels": labels, "reference_shares": shares,
            "live_shares": [c / n for c in live], "live_counts": live,
            "unknown_labels": sum(c for lab, c in counts.items() if lab not in labels),
            "status": drift.status(p, test["p_value"], psi_warn=th.psi_warn,
                                   psi_alarm=th.psi_alarm, p_alpha=th.p_value)}


def low_confidence(ref: dict, records: list[dict], th) -> dict:
    """Share of predictions with margin < th.low_margin, in the window vs the reference."""
    live = np.array([_margin(r["probabilities"]) for r in records], dtype=np.float64)  # (N,)
    ref_margins = reference_margins(ref)
    out = {"measure": "margin (top-1 minus top-2 probability)", "threshold": th.low_margin,
           "alarm_increase": th.low_confidence_increase_alarm,
           "share": float((live < th.low_margin).mean()) if len(live) else None,
           "reference_share": None, "increase": None, "p_value": None, "status": "ok"}
    if ref_margins is None:
        out["status"] = "no-reference"
        return out
    shift = drift.share_shift(ref_margins < th.low_margin, live < th.low_margin)
    if len(live):
        out.update(shift)
        rise = shift["increase"] > th.low_confidence_increase_alarm
        significant = shift["p_value"] is not None and shift["p_value"] < th.p_value
        out["status"] = "alarm" if rise else "warn" if significant and shift["increase"] > 0 else "ok"
    else:
        out["reference_share"] = shift["reference_share"]
    return out


def _margin(probabilities: dict) -> float:
    top = sorted(probabilities.values())[-2:]
    return float(top[-1] - top[0]) if len(top) == 2 else 1.0


def timeline(records: list[dict]) -> dict:
    """Predictions, requests and per-request latency (p50/p95) per time bucket."""
    if not records:
        return {"bucket_s": None, "buckets": []}
    t0, t1 = records[0]["_t"], records[-1]["_t"]
    span = max((t1 - t0).total_seconds(), 1.0)
    size = next((b for b in BUCKETS_S if span / b <= MAX_BUCKETS), BUCKETS_S[-1])
    start = t0.timestamp() // size * size
    buckets: dict[int, dict] = {}
    for r in records:
        k = int((r["_t"].timestamp() - start) // size)
        b = buckets.setdefault(k, {"predictions": 0, "requests": {}})
        b["predictions"] += 1
        if isinstance(r.get("latency_ms"), (int, float)):
            b["requests"][r.get("request_id") or id(r)] = float(r["latency_ms"])
    rows = []
    for k in sorted(buckets):
        b = buckets[k]
        lat = np.array(list(b["requests"].values()))
        rows.append({"start": start + k * size, "predictions": b["predictions"],
                     "requests": len(lat), "per_s": b["predictions"] / size,
                     "p50_ms": None, "p95_ms": None, **latency_percentiles(lat, (50, 95))})
    return {"bucket_s": size, "buckets": rows}


def latency(records: list[dict]) -> dict:
    """Per-request latency percentiles (a request's texts share one latency figure)."""
    per_request = {r.get("request_id") or id(r): float(r["latency_ms"]) for r in records
                   if isinstance(r.get("latency_ms"), (int, float))}
    lat = list(per_request.values())
    return {"requests": len(lat), **latency_percentiles(lat)}


def evaluate_window(win: LogWindow, ref: dict, th, tokenizer=None, unk: int | None = None,
                    expect=None) -> dict:
    """The monitoring report of one window against ``ref`` with canvas thresholds ``th``;
    with ``expect`` (performance.Expectations) also estimated / realised F1 and sequential alarms."""
    recs = win.records
    labels = ref["labels"]
    conf = np.array([max(r["probabilities"].values()) for r in recs], dtype=np.float64)  # (N,)
    n = len(recs)
    report = {
        "window": win.summary(), "n": n, "reference": {k: ref.get(k) for k in (
            "source", "variant", "n", "oov_rate", "mean_confidence")},
        "versions": dict(Counter(f"{r.get('model')}:{r.get('version')}" for r in recs)),
        "variants": dict(Counter(str(r.get("variant")) for r in recs)),
        "latency": latency(recs), "timeline": timeline(recs),
        "low_confidence": low_confidence(ref, recs, th),
        "checks": [], "notes": [], "alarms": [], "warnings": [],
    }
    if n == 0:
        report["notes"].append("no valid predictions in the window: nothing to compare")
        report["status"] = "no-data"
        return report
    unknown = sorted({lab for r in recs for lab in r["probabilities"] if lab not in labels})
    if unknown:
        report["notes"].append(f"logged labels {unknown} are not the reference labels {labels}")
    report["checks"].append(label_check(ref, recs, th))
    report["checks"].append(_binned_check("confidence", ref["confidence"], conf, th))
    texts = [r["text"] for r in recs if isinstance(r.get("text"), str)]
    if len(texts) < n:
        report["notes"].append(
            f"{n - len(texts)} of {n} records carry no text (hashed or omitted, serve.log_text): "
            "text length and [UNK] share are computed on the rest" if texts else
            "the log holds no texts (serve.log_text hash/none): text length and [UNK] share skipped")
    if texts:
        chars = np.array([len(t) for t in texts], dtype=np.float64)  # (M,)
        report["checks"].append(_binned_check("char_length", ref["char_length"], chars, th))
        if tokenizer is not None:
            tokens, unk_count, total = token_stats(tokenizer, unk, texts)
            report["checks"].append(_binned_check("token_length", ref["token_length"], tokens, th))
            rate = unk_count / total if total else 0.0
            rise = rate - float(ref.get("oov_rate") or 0.0)
            report["oov"] = {"rate": rate, "reference_rate": ref.get("oov_rate"), "increase": rise,
                             "alarm_increase": th.oov_increase_alarm,
                             "status": "alarm" if rise > th.oov_increase_alarm else "ok"}
    if expect is not None:
        from mlops_dl.monitor.performance import section

        report.update(section(recs, ref, th, expect))
    _verdict(report, th)
    return report


def _verdict(report: dict, th) -> None:
    for c in report["checks"]:
        line = (f"{c['name']}: PSI {c['psi']:.3f}" + (f", {c['test']} p={c['p_value']:.3g}"
                                                       if c["p_value"] is not None else ""))
        if c["status"] == "alarm":
            report["alarms"].append(line)
        elif c["status"] == "warn":
            report["warnings"].append(line)
    low = report["low_confidence"]
    if low["status"] in ("alarm", "warn"):
        report["alarms" if low["status"] == "alarm" else "warnings"].append(
            f"low confidence: {low['share']:.1%} of predictions have margin < {low['threshold']} "
            f"vs {low['reference_share']:.1%} in the reference (+{low['increase']:.1%}; alarm "
            f"above +{low['alarm_increase']:.0%})")
    elif low["status"] == "no-reference":
        report["notes"].append("the stored reference has no margins (older than this check, "
                               "more than two labels): low-confidence shift not checked")
    _performance_verdict(report)
    oov = report.get("oov")
    if oov and oov["status"] == "alarm":
        report["alarms"].append(f"[UNK] share {oov['rate']:.2%} vs reference "
                                f"{oov['reference_rate']:.2%} (+{oov['increase']:.2%})")
    if report["n"] < th.min_predictions:
        report["notes"].append(f"only {report['n']} predictions (< monitoring.min_predictions "
                               f"{th.min_predictions}): figures shown, alarms not raised")
        report["warnings"] += [f"(suppressed) {a}" for a in report["alarms"]]
        report["alarms"] = []
    report["status"] = "alarm" if report["alarms"] else "warn" if report["warnings"] else "ok"


def _performance_verdict(report: dict) -> None:
    perf, seq = report.get("performance"), report.get("sequential")
    if perf and perf["status"] != "ok":
        est = perf["estimated"]
        lo, hi = est["interval"]
        report["alarms" if perf["status"] == "alarm" else "warnings"].append(
            f"estimated macro-F1 {est['macro_f1']:.3f} [{lo:.3f}, {hi:.3f}] (canvas threshold "
            f"{perf['threshold']}, per-class floor {perf['per_class_floor']})")
    if seq and seq["alarm"]:
        first = next(t for t in seq["tests"] if t["name"] == seq["alarm"])
        report["alarms"].append(
            f"sequential: {seq['alarm']} {first['bound']:.3f} after {seq['alarm_at'] + 1} "
            f"predictions (window mean {first['mean']:.3f}; false-alarm rate {seq['false_alarm_rate']})")
