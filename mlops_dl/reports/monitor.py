"""Monitoring window report: status, alarms, drift checks with reference-vs-live plots, traffic."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np

from mlops_dl.reports.html import banner, fig_png, img, kv_table, notes, page, pyplot, table


def _shares(counts) -> np.ndarray:
    c = np.asarray(counts, dtype=float)
    return c / max(c.sum(), 1.0)


def drift_png(checks: list[dict]) -> bytes:
    """One panel per check: reference vs live shares per label / bin."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(checks), figsize=(4.2 * len(checks), 3.4), squeeze=False)
    for ax, c in zip(axes[0], checks):
        if c["kind"] == "categorical":
            names, ref, live = c["labels"], c["reference_shares"], c["live_shares"]
        else:
            e = c["bin_edges"]
            names = [f"{e[i]:.3g}-{e[i + 1]:.3g}" for i in range(len(e) - 1)] + [f"> {e[-1]:.3g}"]
            ref, live = _shares(c["reference_counts"]), _shares(c["live_counts"])
            if c["reference_counts"][-1] == 0 and c["live_counts"][-1] == 0:  # empty overflow bin
                names, ref, live = names[:-1], ref[:-1], live[:-1]
        x = np.arange(len(names))
        ax.bar(x - 0.2, ref, width=0.4, label="reference", color="#8aa4bf")
        ax.bar(x + 0.2, live, width=0.4, label="window", color="#d9822b")
        ax.set_xticks(x, names, rotation=45 if len(names) > 4 else 0, ha="right", fontsize=7)
        ax.set_title(f"{c['name']}  PSI {c['psi']:.3f} [{c['status']}]", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig_png(fig)


def timeline_png(tl: dict) -> bytes:
    """Predictions per second and p95 request latency per bucket."""
    plt = pyplot()
    rows = tl["buckets"]
    times = [datetime.fromtimestamp(r["start"], timezone.utc) for r in rows]
    fig, ax = plt.subplots(figsize=(10, 3.2))
    ax.plot(times, [r["per_s"] for r in rows], marker="o", color="#2b6cb0", label="predictions/s")
    ax.set_ylabel("predictions / s")
    ax2 = ax.twinx()
    ax2.plot(times, [r["p95_ms"] if r["p95_ms"] is not None else np.nan for r in rows],
             marker="s", color="#c05621", label="p95 latency")
    ax2.set_ylabel("p95 request latency (ms)")
    ax.set_title(f"traffic per {tl['bucket_s']} s bucket", fontsize=9)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig_png(fig)


def monitor_report(report: dict) -> str:
    """HTML for the dict `monitor_log` returns."""
    status = report.get("status", "ok")
    text = {"ok": "no drift alarm", "warn": "warnings, no alarm", "alarm": "ALARM",
            "no-data": "no predictions in the window"}.get(status, status)
    win = report["window"]
    sections = [("Status", banner("alarm" if status == "alarm" else "warn" if status in ("warn", "no-data")
                                  else "ok", f"{text}: " + ("; ".join(report["alarms"]) or
                                                            "; ".join(report["warnings"]) or "all checks ok"))
                 + notes(report["notes"]))]
    low = report["low_confidence"]
    sections.append(("Window", kv_table({
        "reference version": report.get("ref"), "reference": (report.get("reference") or {}).get("source"),
        "since": win["since"] or "start of log", "until": win["until"] or "end of log",
        "files": ", ".join(win["files"]), "lines read": win["lines"], "predictions": report["n"],
        "outside window": win["outside_window"], "malformed lines": win["malformed"],
        "served by": ", ".join(f"{k} ({v})" for k, v in report["versions"].items()),
        f"low-confidence share (margin < {low['threshold']})": low["share"],
        "reference low-confidence share": low["reference_share"],
        **{f"latency {k}": v for k, v in report["latency"].items()}})))
    perf = report.get("performance")
    if perf and perf["estimated"]["macro_f1"] is not None:
        est, real = perf["estimated"], perf.get("realised") or {}
        seq = report.get("sequential") or {}
        sections.append(("Performance (estimated without labels)", kv_table({
            "estimated macro-F1": est["macro_f1"], "95 % interval": ", ".join(f"{v:.3f}" for v in est["interval"]),
            "canvas threshold": perf["threshold"], "test split macro-F1": (perf.get("test") or {}).get("macro_f1"),
            "measured on feedback labels": real.get("macro_f1"), "feedback labels": real.get("n"),
            "calibration": (perf.get("calibration") or {}).get("method", "none"),
            "sequential alarm": seq.get("alarm") or "none",
            "sequential false-alarm rate": seq.get("false_alarm_rate")}) + notes(perf["notes"])))
    checks = report["checks"]
    if checks:
        sections.append(("Drift checks", table(
            ["statistic", "PSI", "test", "statistic value", "p-value", "status"],
            [[c["name"], c["psi"], c["test"], c["statistic"], c["p_value"], (c["status"], c["status"])]
             for c in checks]) + img(drift_png(checks), "reference vs window")))
    if report.get("oov"):
        o = report["oov"]
        sections.append(("[UNK] tokens", kv_table({"window rate": o["rate"], "reference rate": o["reference_rate"],
                                                   "increase": o["increase"], "status": o["status"]})))
    if report["timeline"]["buckets"]:
        sections.append(("Traffic and latency", img(timeline_png(report["timeline"]), "traffic")))
    if win["malformed_examples"]:
        sections.append(("Malformed log lines", table(
            ["file", "line", "reason"], [[m["file"], m["line"], m["reason"]] for m in win["malformed_examples"]])))
    return page(f"Monitoring {report.get('ref', '')}", f"canvas {report.get('canvas')}", sections)
