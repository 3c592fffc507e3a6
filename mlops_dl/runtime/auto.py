"""`engine: auto` / `variant: auto`: the fastest accepted servable of a version on this machine.

Candidates are the servables the version holds (every file passed the export gate; a failing
one is never registered) that this machine can run, batch-invariant ones only unless a variant
is named (``int8-dynamic``'s labels vary with the batch). When the version has an acceptance
record, only the servables it accepted are candidates; with no record every candidate is, and
the choice says it is unaccepted. Fastest = most texts/s on the real stream, length-sorted
batches: read from the version's bench.json when it was measured on a machine with the same
fingerprint (CPU model, flags, cores), else timed here in at most ``CALIBRATION_S`` seconds on
the version's own validation texts.
"""

from __future__ import annotations

import logging
import time

from mlops_dl import machine
from mlops_dl.errors import MlopsError, RegistryError
from mlops_dl.registry import acceptance, layout
from mlops_dl.runtime import variants as V
from mlops_dl.runtime.predictor import build

log = logging.getLogger("mlops_dl.runtime.auto")
CALIBRATION_S = 5.0
FALLBACK_TEXTS = ["great service, would come again", "no", "the meeting moved to noon " * 6,
                  "this is the worst phone I have ever owned and support never answered"]


def openvino_missing() -> str:
    """'' when the openvino extra is installed, else the one-line reason."""
    from mlops_dl.runtime.openvino import import_openvino

    try:
        import_openvino()
    except MlopsError as e:
        return str(e)
    return ""


def runnable(mv, engine: str = "auto", variant: str = "auto",
             include_varying: bool = False) -> tuple[list[V.Servable], dict]:
    """The servables of ``mv`` matching ``engine``/``variant`` that can run here, and
    {engine or servable key: why skipped}. ``auto`` variants leave int8-dynamic out unless
    ``include_varying`` (the bench measures it, labelled as varying with the batch)."""
    engines = V.ENGINES if engine == "auto" else (engine,)
    found, skipped = [], {}
    for eng in engines:
        why = V.unavailable_reason(mv, eng) or (openvino_missing() if eng == "openvino" else "")
        if why:
            if engine != "auto":
                raise RegistryError(why) if "re-export" in why else MlopsError(why)
            skipped[eng] = why
            continue
        if variant not in ("auto", "int8"):
            found.append(V.resolve(mv, eng, variant))
            continue
        for s in V.held(mv, eng):
            if variant == "int8" and s.variant not in V.INT8_ALIAS[eng]:
                continue
            varies = "" if s.batch_invariant or include_varying else V.BATCH_VARIES
            why = V.why_not_here(s) or varies
            if why:
                skipped[s.key] = why
            else:
                found.append(s)
    return found, skipped


def candidates(mv, engine: str, variant: str) -> tuple[list[V.Servable], dict, dict]:
    """(candidates, skipped, acceptance note): ``runnable`` narrowed to the accepted ones."""
    found, skipped = runnable(mv, engine, variant)
    record = acceptance.read(mv)
    note = {"accepted_only": False, "record": record is not None}
    if record is not None:
        accepted = [s for s in found if s.key in record.accepted]
        for s in found:
            if s not in accepted:
                skipped[s.key] = "not accepted (acceptance.json: failed or not evaluated)"
        if accepted:
            found, note["accepted_only"] = accepted, True
        else:
            found = []
    if not found:
        raise RegistryError(f"{V.ref_of(mv)}: nothing to serve for engine {engine}, variant "
                            f"{variant} (skipped: {skipped or 'none'}); run `mlops-dl accept "
                            f"{V.ref_of(mv)}` or name a servable with --engine/--variant")
    return found, skipped, note


def choose(mv, engine: str, variant: str, provider: str, settings) -> dict:
    """{engine, variant, precision, source, reason, skipped, texts_per_s, accepted_only}."""
    pairs, skipped, note = candidates(mv, engine, variant)
    speeds, source = from_bench(mv, pairs), layout.BENCH
    if not speeds:
        speeds, source = calibrate(mv, pairs, provider, settings), "calibration"
    best = next(s for s in pairs if s.key == max(speeds, key=speeds.get))
    runner_up = sorted(speeds.values())[-2] if len(speeds) > 1 else None
    margin = f", {speeds[best.key] / runner_up:.2f}x the next" if runner_up else ""
    where = ("the version's bench.json (same machine fingerprint "
             f"{machine.fingerprint()})" if source == layout.BENCH else
             f"a {CALIBRATION_S:.0f} s calibration at start-up (no bench.json for this machine)")
    pool = "accepted" if note["accepted_only"] else "UNACCEPTED (the version has no acceptance)"
    reason = (f"{best.label}: fastest of {len(speeds)} {pool} candidates on the real stream, "
              f"{speeds[best.key]:.0f} texts/s{margin}, from {where}")
    if skipped:
        reason += "; skipped " + "; ".join(f"{k}: {v}" for k, v in skipped.items())
    log.info("auto choice for %s: %s", V.ref_of(mv), reason)
    return {"engine": best.engine, "variant": best.variant, "precision": best.precision,
            "servable": best.key, "source": source, "reason": reason, "skipped": skipped,
            "accepted_only": note["accepted_only"],
            "texts_per_s": {k: round(v, 1) for k, v in speeds.items()}}


def bench_key(result: dict) -> str | None:
    """The servable key of one bench.json engine entry (older entries: legacy names)."""
    engine, variant = result.get("runtime"), result.get("variant")
    if not engine or not variant:
        return None
    return f"{engine}:{variant if 'precision' in result else V.legacy(engine, variant)}"


def from_bench(mv, pairs: list[V.Servable]) -> dict[str, float]:
    """{servable key: texts/s} from the attached bench.json of this machine; {} if none."""
    try:
        report = mv.attachment(layout.BENCH)
    except (RegistryError, OSError):
        return {}
    return speeds_in(report, pairs)


def speeds_in(report: dict | None, pairs: list[V.Servable]) -> dict[str, float]:
    """{servable key: texts/s} of every candidate in a bench report of this machine; {} when
    the report is from another machine or lacks one of them."""
    if not report or report.get("hardware", {}).get("fingerprint") != machine.fingerprint():
        return {}
    wanted, speeds = {s.key for s in pairs}, {}
    for result in report.get("engines", {}).values():
        key = bench_key(result)
        rate = (result.get("stream_sorted") or {}).get("sent_per_s")
        if key in wanted and rate:
            speeds[key] = float(rate)
    return speeds if len(speeds) == len(wanted) else {}


def calibration_texts(mv, n: int = 64) -> list[str]:
    """The version's validation texts (eval samples), else a few fixed texts."""
    rows = (mv.read_jsonl(layout.EVAL_SAMPLES) or []) if mv.has(layout.EVAL_SAMPLES) else []
    texts = [r["text"] for r in rows[:n] if isinstance(r.get("text"), str) and r["text"]]
    return texts or FALLBACK_TEXTS


def calibrate(mv, pairs: list[V.Servable], provider: str, settings,
              budget_s: float | None = None) -> dict[str, float]:
    """Texts/s of each candidate, timed here within ``budget_s`` seconds in all."""
    budget_s = CALIBRATION_S if budget_s is None else budget_s
    texts = calibration_texts(mv)
    deadline = time.perf_counter() + budget_s
    speeds = {}
    for i, servable in enumerate(pairs):
        pred = build(mv, servable, provider, settings)
        pred.logits(texts[: settings.max_batch_size])  # warm-up
        share = max(0.05, (deadline - time.perf_counter()) / (len(pairs) - i))
        stop, done, spent = time.perf_counter() + share, 0, 0.0
        while done == 0 or time.perf_counter() < stop:
            start = time.perf_counter()
            pred.logits(texts)
            spent += time.perf_counter() - start
            done += len(texts)
        speeds[servable.key] = done / spent
    return speeds
