"""`engine: auto` / `variant: auto`: the best accepted servable of a version on this machine
for what the caller does with it.

Candidates are the servables the version holds (every file passed the export gate; a failing
one is never registered) that this machine can run, batch-invariant ones only unless a variant
is named (``int8-dynamic``'s labels vary with the batch). When the version has an acceptance
record, only the servables it accepted are candidates; with no record every candidate is, and
the choice says it is unaccepted. Best depends on the purpose (runtime.criteria): ``serve``
asks for ``latency`` (the steadiest batch-1 tail within the canvas's budget, then texts/s),
``predict`` and Ray scoring for ``throughput`` (texts/s on the real stream as the Predictor
batches it). The figures come from the version's bench.json when it was measured on a machine with
the same fingerprint (CPU model, flags, cores), else they are timed here in at most
``CALIBRATION_S`` seconds on the version's own validation texts.
"""

from __future__ import annotations

import logging
import time

from mlops_dl import machine
from mlops_dl.errors import MlopsError, RegistryError
from mlops_dl.metrics import latency_percentiles
from mlops_dl.registry import acceptance, layout
from mlops_dl.runtime import criteria
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


def choose(mv, engine: str, variant: str, provider: str, settings,
           purpose: str = "throughput", budget_ms: float | None = None) -> dict:
    """{engine, variant, precision, servable, source, criterion, reason, skipped, texts_per_s,
    figures, accepted_only}: the best candidate for ``purpose`` (runtime.criteria)."""
    criteria.check_purpose(purpose)
    pairs, skipped, note = candidates(mv, engine, variant)
    figures, source = from_bench(mv, pairs, purpose), layout.BENCH
    if not figures:
        figures, source = calibrate(mv, pairs, provider, settings, purpose=purpose), "calibration"
    key, criterion = criteria.rank(figures, purpose, budget_ms)
    best = next(s for s in pairs if s.key == key)
    where = ("the version's bench.json (same machine fingerprint "
             f"{machine.fingerprint()})" if source == layout.BENCH else
             f"a {CALIBRATION_S:.0f} s calibration at start-up (no bench.json for this machine)")
    pool = "accepted" if note["accepted_only"] else "UNACCEPTED (the version has no acceptance)"
    reason = (f"{best.label}: best of {len(figures)} {pool} candidates by {criterion}: "
              f"{criteria.summary(figures, key, purpose)}, from {where}")
    if skipped:
        reason += "; skipped " + "; ".join(f"{k}: {v}" for k, v in skipped.items())
    log.info("auto choice for %s: %s", V.ref_of(mv), reason)
    return {"engine": best.engine, "variant": best.variant, "precision": best.precision,
            "servable": best.key, "source": source, "purpose": purpose, "criterion": criterion,
            "budget_ms": budget_ms, "reason": reason, "skipped": skipped,
            "accepted_only": note["accepted_only"],
            "texts_per_s": {k: round(f["texts_per_s"], 1) for k, f in figures.items()},
            "figures": {k: {m: round(v, 3) for m, v in f.items()} for k, f in figures.items()}}


def bench_key(result: dict) -> str | None:
    """The servable key of one bench.json engine entry (older entries: legacy names)."""
    engine, variant = result.get("runtime"), result.get("variant")
    if not engine or not variant:
        return None
    return f"{engine}:{variant if 'precision' in result else V.legacy(engine, variant)}"


def from_bench(mv, pairs: list[V.Servable], purpose: str = "throughput") -> dict[str, dict]:
    """{servable key: figures} from the attached bench.json of this machine; {} if none."""
    try:
        report = mv.attachment(layout.BENCH)
    except (RegistryError, OSError):
        return {}
    return figures_in(report, pairs, purpose)


def figures_in(report: dict | None, pairs: list[V.Servable], purpose: str = "throughput"
               ) -> dict[str, dict]:
    """{servable key: {texts_per_s, p50_ms, p95_ms, p99_ms}} of every candidate in a bench
    report of this machine (texts/s: ``criteria.stream_as_run``); {} when the report is from
    another machine or lacks a figure ``purpose`` ranks on for one of them."""
    if not report or report.get("hardware", {}).get("fingerprint") != machine.fingerprint():
        return {}
    wanted, figures = {s.key for s in pairs}, {}
    for result in report.get("engines", {}).values():
        key = bench_key(result)
        rate = criteria.stream_as_run(result).get("sent_per_s")
        if key in wanted and rate:
            b1 = result.get("batch1") or {}
            figures[key] = {"texts_per_s": float(rate),
                            **{m: float(b1[m]) for m in ("p50_ms", "p95_ms", "p99_ms") if m in b1}}
    need = criteria.needs(purpose)
    complete = len(figures) == len(wanted) and all(m in f for f in figures.values() for m in need)
    return figures if complete else {}


def calibration_texts(mv, n: int = 64) -> list[str]:
    """The version's validation texts (eval samples), else a few fixed texts."""
    rows = (mv.read_jsonl(layout.EVAL_SAMPLES) or []) if mv.has(layout.EVAL_SAMPLES) else []
    texts = [r["text"] for r in rows[:n] if isinstance(r.get("text"), str) and r["text"]]
    return texts or FALLBACK_TEXTS


def calibrate(mv, pairs: list[V.Servable], provider: str, settings,
              budget_s: float | None = None, purpose: str = "throughput") -> dict[str, dict]:
    """{key: figures} of each candidate, timed here within ``budget_s`` seconds in all, in
    rounds across the candidates (a noisy neighbour slows all alike): a length-sorted pass over
    the calibration texts each round, and for ``latency`` one-text calls too."""
    budget_s = CALIBRATION_S if budget_s is None else budget_s
    texts = calibration_texts(mv)
    preds = {s.key: build(mv, s, provider, settings) for s in pairs}
    for pred in preds.values():
        pred.logits(texts[: settings.max_batch_size])  # warm-up
    deadline = time.perf_counter() + budget_s
    spent, done = dict.fromkeys(preds, 0.0), dict.fromkeys(preds, 0)
    single: dict[str, list[float]] = {k: [] for k in preds}
    rounds = 0
    while min(done.values()) == 0 or time.perf_counter() < deadline:
        rounds += 1
        for key, pred in preds.items():
            start = time.perf_counter()
            pred.logits(texts)
            spent[key] += time.perf_counter() - start
            done[key] += len(texts)
            if purpose == "latency":
                single[key] += one_text_ms(pred, texts, 8 * rounds)
    figures = {k: {"texts_per_s": done[k] / spent[k]} for k in preds}
    for key, ms in single.items():
        if ms:
            figures[key].update(latency_percentiles(ms))
    return figures


def one_text_ms(pred, texts: list[str], offset: int, n: int = 8) -> list[float]:
    """Milliseconds of ``n`` one-text calls, starting at ``texts[offset]``."""
    out = []
    for i in range(offset, offset + n):
        start = time.perf_counter()
        pred.logits([texts[i % len(texts)]])
        out.append((time.perf_counter() - start) * 1000)
    return out
