"""Monitoring: read the prediction log over a window, compare it with reference stats, alarm.

    report = monitor_log(["logs/predictions.jsonl"], "sentiment@production", canvas)
    report["status"]  # ok | warn | alarm | no-data ; exit code ALARM_EXIT on alarm

Torch-free: inference goes through mlops_dl.runtime.Predictor, statistics through numpy/scipy.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from mlops_dl.monitor.check import evaluate_window
from mlops_dl.monitor.performance import expectations_for
from mlops_dl.monitor.reference import reference_for, unk_id
from mlops_dl.monitor.replay import replay
from mlops_dl.monitor.window import LogWindow, read_window

ALARM_EXIT = 3  # `mlops-dl monitor` exit code when an alarm fires (for cron / CI)

__all__ = ["ALARM_EXIT", "LogWindow", "monitor_log", "monitor_slices", "read_window", "replay",
           "replay_log", "evaluate_window", "reference_for"]


def _predictor(ref: str, registry, variant: str, engine: str = "onnxruntime"):
    """The version and the Predictor of the servable that served (or the canvas names);
    a servable the version lacks is an error naming what it has (runtime.resolve)."""
    from mlops_dl.registry import open_registry
    from mlops_dl.runtime import from_version

    reg = open_registry(registry)
    mv = reg.get(ref, verify=True)
    return reg, mv, from_version(mv, provider="cpu", variant=variant, engine=engine)


def _served(win: LogWindow, canvas) -> tuple[str, str]:
    """(engine, variant) the window was served with when the log says one, else the canvas's."""
    pairs = {(str(r.get("engine") or "onnxruntime"), str(r.get("variant")))
             for r in win.records if r.get("variant")}
    if len(pairs) == 1:
        engine, variant = pairs.pop()
        if "servable" not in win.records[0] and (engine, variant) == ("onnxruntime", "int8"):
            variant = "int8-dynamic"  # logged before servables: onnxruntime's int8 was dynamic
        return engine, variant
    return canvas.latency.engine, canvas.latency.variant


def monitor_log(logs: list[str | Path], ref: str, canvas, registry=None,
                since: str | None = None, until: str | None = None,
                data_dir: str | Path | None = None) -> dict:
    """Drift, confidence, throughput and latency of the logged window vs ``ref``'s reference."""
    win = read_window(logs, since, until)
    engine, variant = _served(win, canvas)
    reg, mv, predictor = _predictor(ref, registry, variant, engine)
    ref_stats = reference_for(reg, mv, predictor, data_dir)
    expect = expectations_for(reg, mv, canvas, predictor)
    report = evaluate_window(win, ref_stats, canvas.monitoring, predictor.tokenizer,
                             unk_id(predictor.tokenizer), expect)
    report["ref"] = mv.ref
    report["canvas"] = canvas.source
    served = set(report["versions"])
    if served and served != {mv.ref}:
        report["notes"].append(f"the window was served by {', '.join(sorted(served))}; "
                               f"the reference is {mv.ref}")
    return report


def served_ref(win: LogWindow) -> str | None:
    """The ``model:version`` that served most of the window's predictions."""
    served = Counter(f"{r.get('model')}:{r.get('version')}" for r in win.records
                     if r.get("model") and r.get("version") is not None)
    return served.most_common(1)[0][0] if served else None


def monitor_slices(logs: list[str | Path], canvas, registry=None, ref: str | None = None,
                   slices: int = 8, since: str | None = None, until: str | None = None) -> dict:
    """The window cut into ``slices`` equal time slices, each checked like ``monitor_log``
    against ``ref`` (default: the version that served most of it); the reference is not stored."""
    win = read_window(logs, since, until)
    ref = ref or served_ref(win)
    if not win.records or ref is None:
        return {"ref": ref, "window": win.summary(), "overall": None, "slices": []}
    engine, variant = _served(win, canvas)
    reg, mv, predictor = _predictor(ref, registry, variant, engine)
    stats = reference_for(reg, mv, predictor, store=False)
    unk = unk_id(predictor.tokenizer)
    expect = expectations_for(reg, mv, canvas, predictor, store=False)
    th = canvas.monitoring
    t0, t1 = win.records[0]["_t"], win.records[-1]["_t"]
    step = (t1 - t0) / max(slices, 1) if t1 > t0 else None
    parts: list[list[dict]] = [[] for _ in range(max(slices, 1))]
    for r in win.records:
        parts[min(int((r["_t"] - t0) / step), len(parts) - 1) if step else 0].append(r)
    out = []
    for i, part in enumerate(parts):
        if part:
            start = t0 + step * i if step else t0
            sub = LogWindow(records=part, files=win.files, lines=len(part), since=start.isoformat())
            out.append(_slice(evaluate_window(sub, stats, th, predictor.tokenizer, unk, expect), th))
    overall = evaluate_window(win, stats, th, predictor.tokenizer, unk, expect)
    return {"ref": mv.ref, "window": win.summary(), "overall": overall, "slices": out}


def _slice(report: dict, th) -> dict:
    """A time slice with fewer than monitoring.min_slice_predictions: figures kept, flagged
    ``too_few`` (greyed, not plotted), alarms turned into suppressed warnings."""
    report["too_few"] = report["n"] < th.min_slice_predictions
    if report["too_few"]:
        report["warnings"] += [f"(suppressed) {a}" for a in report["alarms"]]
        report["alarms"] = []
        report["status"] = "too-few"
    return report


def replay_log(logs: list[str | Path], challenger: str, registry=None, since: str | None = None,
               until: str | None = None, variant: str = "int8", limit: int = 10_000,
               engine: str = "onnxruntime") -> dict:
    """Run ``challenger`` over the window's logged texts; disagreement with the served labels."""
    win = read_window(logs, since, until)
    _, _, predictor = _predictor(challenger, registry, variant, engine)
    return replay(win, predictor, limit)
