"""`engine: auto` / `variant: auto`: the fastest engine x variant of a version on this machine.

Candidates are the variants the version holds (every one passed the export gate; a failing one
is never registered) for the engines that can run here. Fastest = most texts/s on the real
stream, length-sorted batches: read from the version's bench.json when it was measured on a
machine with the same fingerprint (CPU model, flags, cores), else timed here in at most
``CALIBRATION_S`` seconds on the version's own validation texts.
"""

from __future__ import annotations

import logging
import time

from mlops_dl import machine
from mlops_dl import variants as variants_mod
from mlops_dl.errors import MlopsError, RegistryError

log = logging.getLogger("mlops_dl.choice")
CALIBRATION_S = 5.0
FALLBACK_TEXTS = ["great service, would come again", "no", "the meeting moved to noon " * 6,
                  "this is the worst phone I have ever owned and support never answered"]


def candidates(mv, engine: str, variant: str) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """[(engine, variant)] of version ``mv`` that can run here, and {engine: why skipped}."""
    meta, ref = mv.meta, variants_mod.ref_of(mv)
    engines = variants_mod.ENGINES if engine == "auto" else (engine,)
    found, skipped = [], {}
    for eng in engines:
        why = variants_mod.unavailable_reason(meta, eng, ref)
        if not why and eng == "openvino":
            why = _openvino_missing()
        if why:
            if engine != "auto":
                raise RegistryError(why) if "re-export" in why else MlopsError(why)
            skipped[eng] = why
            continue
        names = variants_mod.available(mv, eng, distinct=variant == "auto")
        found += [(eng, v) for v in names if variant in ("auto", v)]
    if not found:
        raise RegistryError(f"{ref}: nothing to run for engine {engine}, variant {variant} "
                            f"(skipped: {skipped or 'none'})")
    return found, skipped


def _openvino_missing() -> str:
    """'' when the openvino extra is installed, else the one-line reason."""
    from mlops_dl.openvino_session import import_openvino

    try:
        import_openvino()
    except MlopsError as e:
        return str(e)
    return ""


def choose(mv, engine: str, variant: str, provider: str, settings) -> dict:
    """{engine, variant, source, reason, skipped, texts_per_s}; logged."""
    pairs, skipped = candidates(mv, engine, variant)
    speeds, source = from_bench(mv, pairs), "bench.json"
    if not speeds:
        speeds, source = calibrate(mv, pairs, provider, settings), "calibration"
    best = max(speeds, key=speeds.get)
    eng, var = best.split(":")
    runner_up = sorted(speeds.values())[-2] if len(speeds) > 1 else None
    margin = f", {speeds[best] / runner_up:.2f}x the next" if runner_up else ""
    where = ("the version's bench.json (same machine fingerprint "
             f"{machine.fingerprint()})" if source == "bench.json" else
             f"a {CALIBRATION_S:.0f} s calibration at start-up (no bench.json for this machine)")
    reason = (f"{eng} {var}: fastest of {len(speeds)} gated candidates on the real stream, "
              f"{speeds[best]:.0f} texts/s{margin}, from {where}")
    if skipped:
        reason += "; skipped " + "; ".join(f"{k}: {v}" for k, v in skipped.items())
    log.info("auto choice for %s: %s", variants_mod.ref_of(mv), reason)
    return {"engine": eng, "variant": var, "source": source, "reason": reason,
            "skipped": skipped, "texts_per_s": {k: round(v, 1) for k, v in speeds.items()}}


def from_bench(mv, pairs: list[tuple[str, str]]) -> dict[str, float]:
    """{"engine:variant": texts/s} from the attached bench.json of this machine; {} if none."""
    try:
        report = mv.attachment("bench.json")
    except (RegistryError, OSError):
        return {}
    if not report or report.get("hardware", {}).get("fingerprint") != machine.fingerprint():
        return {}
    speeds = {}
    for result in report.get("engines", {}).values():
        pair = (result.get("runtime"), result.get("variant"))
        rate = result.get("stream_sorted", {}).get("sent_per_s")
        if pair in pairs and rate:
            speeds[":".join(pair)] = float(rate)
    return speeds if len(speeds) == len(pairs) else {}


def calibration_texts(mv, n: int = 64) -> list[str]:
    """The version's validation texts (eval samples), else a few fixed texts."""
    from mlops_dl.registry import layout

    rows = (mv.read_jsonl(layout.EVAL_SAMPLES) or []) if mv.has(layout.EVAL_SAMPLES) else []
    texts = [r["text"] for r in rows[:n] if isinstance(r.get("text"), str) and r["text"]]
    return texts or FALLBACK_TEXTS


def calibrate(mv, pairs: list[tuple[str, str]], provider: str, settings,
              budget_s: float | None = None) -> dict[str, float]:
    """Texts/s of each candidate, timed here within ``budget_s`` seconds in all."""
    from mlops_dl.runtime import Predictor

    budget_s = CALIBRATION_S if budget_s is None else budget_s
    texts = calibration_texts(mv)
    deadline = time.perf_counter() + budget_s
    speeds = {}
    for i, (eng, var) in enumerate(pairs):
        pred = Predictor.from_version(mv, provider, var, settings, engine=eng)
        pred.logits(texts[: settings.max_batch_size])  # warm-up
        share = max(0.05, (deadline - time.perf_counter()) / (len(pairs) - i))
        stop, done, spent = time.perf_counter() + share, 0, 0.0
        while done == 0 or time.perf_counter() < stop:
            start = time.perf_counter()
            pred.logits(texts)
            spent += time.perf_counter() - start
            done += len(texts)
        speeds[f"{eng}:{var}"] = done / spent
    return speeds
