"""Promotion gate: move an alias only to an accepted version that is not worse than the champion.

Like for like: each version is scored with the servable it will serve with (the canvas's
``latency.engine``/``variant``, or what ``auto`` picks among its accepted servables; the same
resolver as ``serve``), on the same test texts: the challenger's frozen test split, and when
the champion's split differs (another fingerprint), the texts both splits hold with the same
gold label, said so in the decision (refused when fewer than ``MIN_SHARED`` remain). "Worse" =
lower macro-F1 with McNemar p < canvas promotion.alpha. Stored acceptance predictions of the
same servable and split are reused. ``force`` with a reason overrides a refusal and is
recorded: the decision (both servables in it) goes to the version's promotion.json attachment
and every decision (refusals too) to the model's audit log.
"""

from __future__ import annotations

from datetime import datetime, timezone

from mlops_dl.errors import MlopsError, RegistryError
from mlops_dl.gates import attest
from mlops_dl.gates.accept import evaluate_servable, load_test_split, stored_predictions
from mlops_dl.metrics import classification_report, format_f1_change, mcnemar
from mlops_dl.registry import acceptance, layout, signing
from mlops_dl.registry.store import current_user
from mlops_dl.runtime import build, servable_for

REFUSED_EXIT = 4  # `mlops-dl promote` exit code when the gate refuses
MIN_SHARED = 30  # fewest shared test texts a champion comparison is made on


def served_servable(mv, canvas):
    """The servable `serve` will serve ``mv`` with under ``canvas`` (serve's own resolver and
    criterion: the lowest batch-1 tail within the canvas's latency budget)."""
    lat = canvas.latency
    return servable_for(mv, lat.engine, lat.variant, purpose="latency", budget_ms=lat.p95_ms)[0]


def trusted_record(mv, canvas, key: str | None, data_dir=None):
    """(record, note): ``mv``'s acceptance record as promote may use it. A signed attestation
    that verifies is trusted as stored; with a verifying key configured anything else is
    refused (note says why, record None); without one, the served servable is scored again now
    (the stored file is never taken at its word)."""
    record = acceptance.read(mv)
    if record is None:
        return None, ""
    ok, why = attest.trusted(mv, record)
    if ok:
        return record, "signed attestation verified"
    if signing.verifies():
        return None, f"acceptance.json refused: {why}"
    if key is None:
        return record, ""
    row = evaluate_servable(mv, served_servable(mv, canvas), load_test_split(mv, data_dir), canvas,
                            reuse=False)
    fresh = acceptance.parse({**record.raw, "servables": {key: row}})
    return fresh, f"scored again at promote ({why})"


def acceptance_problems(mv, canvas, key: str | None, record=None, note: str = "") -> list[str]:
    """Why ``mv`` is not accepted for servable ``key`` under ``canvas`` ([] when it is)."""
    if record is None:
        if note:
            return [f"{mv.ref} {note}"]
        return [f"{mv.ref} has no acceptance result: run `mlops-dl accept {mv.ref}` first"]
    problems = []
    row = record.result(key) if key else None
    if row is None:
        have = ", ".join(record.servables) or "none"
        problems.append(f"{mv.ref}: the servable it would serve ({key}) was not evaluated by "
                        f"acceptance (evaluated: {have}); run `mlops-dl accept {mv.ref}`")
    elif not row.get("passed"):
        failed = [c for c in (row.get("checks") or []) + ((row.get("behaviour") or {}).get(
            "checks", []) if (row.get("behaviour") or {}).get("gate") else [])
            if not c.get("passed")]
        figures = "; ".join(f"{c['name']} {c.get('value', c.get('rate')):.4g} vs "
                            f"{c.get('threshold', c.get('min_rate')):g}" for c in failed)
        problems.append(f"{mv.ref} {key} failed acceptance on {record.raw.get('date')}: {figures}")
    if record.raw.get("canvas_sha256") != canvas.sha256:
        problems.append(f"{mv.ref} was accepted against another canvas ({record.raw.get('canvas')}, "
                        f"sha256 {str(record.raw.get('canvas_sha256'))[:12]}); {canvas.source} has "
                        f"changed since: run `mlops-dl accept {mv.ref}` again")
    return problems


def predictions(mv, servable, split) -> list[int]:
    """Test predictions of ``servable`` on ``split``: stored by a trusted (signed, verified)
    acceptance, else computed now."""
    record = acceptance.read(mv)
    preds = stored_predictions(mv, split, servable.key) if record and attest.trusted(mv, record)[0] else None
    if preds is None:
        preds = build(mv, servable, "auto").predict_proba(split.texts).argmax(axis=1).tolist()
    return preds


def shared_texts(split_a, split_b) -> tuple[list[int], list[int], str]:
    """Indices into a and b of the texts both splits hold with the same gold, and a note."""
    if split_a.fingerprint and split_a.fingerprint == split_b.fingerprint:
        idx = list(range(len(split_a.texts)))
        return idx, idx, ""
    where_b = {}
    for j, (t, g) in enumerate(zip(split_b.texts, split_b.gold)):
        where_b.setdefault((t, g), j)
    pairs = [(i, where_b[(t, g)]) for i, (t, g) in enumerate(zip(split_a.texts, split_a.gold))
             if (t, g) in where_b]
    note = (f"the frozen test splits differ (fingerprints {split_a.fingerprint[:12]} vs "
            f"{split_b.fingerprint[:12]}, {len(split_a.texts)} vs {len(split_b.texts)} texts): "
            f"compared on the {len(pairs)} texts both hold with the same label")
    return [p[0] for p in pairs], [p[1] for p in pairs], note


def compare_to_champion(mv, champion, canvas, data_dir=None) -> dict:
    """Macro-F1 of both, each on its served servable, on shared test texts, McNemar (a = champion)."""
    if list(champion.meta["labels"]) != list(mv.meta["labels"]):
        raise MlopsError(f"{champion.ref} labels {champion.meta['labels']} differ from "
                         f"{mv.ref} labels {mv.meta['labels']}: not comparable on one test split")
    split_ch = load_test_split(mv, data_dir)
    split_champ = split_ch if data_dir else load_test_split(champion)
    s_ch, s_champ = served_servable(mv, canvas), served_servable(champion, canvas)
    idx_ch, idx_champ, note = shared_texts(split_ch, split_champ)
    out = {"champion": champion.ref, "n_test": len(idx_ch), "data_dir": split_ch.data_dir,
           "challenger_servable": s_ch.as_dict(), "champion_servable": s_champ.as_dict(),
           "champion_engine": s_champ.label, "challenger_engine": s_ch.label,
           "split_note": note, "alpha": canvas.promotion.alpha}
    if len(idx_ch) < MIN_SHARED:
        return {**out, "worse": None, "refusal": f"only {len(idx_ch)} shared test texts "
                f"(< {MIN_SHARED}): {note}; promote with --data DIR to score both on one split"}
    pred_ch = predictions(mv, s_ch, split_ch)
    pred_champ = predictions(champion, s_champ, split_champ)
    gold = [split_ch.gold[i] for i in idx_ch]
    a = [pred_champ[j] for j in idx_champ]
    b = [pred_ch[i] for i in idx_ch]
    labels = list(mv.meta["labels"])
    f1_ch = classification_report(gold, b, labels)["macro_f1"]
    f1_champ = classification_report(gold, a, labels)["macro_f1"]
    test = mcnemar(gold, a, b)
    return {**out, "champion_macro_f1": f1_champ, "challenger_macro_f1": f1_ch,
            "delta_macro_f1": f1_ch - f1_champ, "mcnemar": test,
            "worse": f1_ch < f1_champ and test["p_value"] < canvas.promotion.alpha}


def f1_versus(c: dict) -> str:
    """'test macro-F1 (onnxruntime int8-static (int8)) 0.6100 vs champion 0.6300 (...): ΔF1
    -2.00 pts on N texts'."""
    return (f"test macro-F1 ({c.get('challenger_engine', '?')}) {c['challenger_macro_f1']:.4f} vs "
            f"champion {c['champion_macro_f1']:.4f} ({c.get('champion_engine', '?')}): ΔF1 "
            f"{format_f1_change(100 * c['delta_macro_f1'])} on {c['n_test']} shared test texts")


def champion_problem(mv, champion, comparison: dict, canvas) -> str | None:
    """Why the comparison with the champion refuses ``mv`` (None when it does not). A champion
    that cannot serve the canvas's servable is not compared (said in ``comparison``)."""
    if comparison.get("refusal"):
        return (f"{mv.ref} cannot be compared with the champion {champion.ref}: "
                f"{comparison['refusal']}")
    if comparison.get("worse"):
        t = comparison["mcnemar"]
        return (f"{mv.ref} is worse than the champion {champion.ref}: {f1_versus(comparison)}, "
                f"McNemar p = {t['p_value']:.3g} < {canvas.promotion.alpha} (champion right / "
                f"challenger wrong: {t['a_right_b_wrong']}, the reverse: {t['a_wrong_b_right']})")
    return None


def evaluate(registry, ref: str, canvas, to: str | None = None, data_dir=None) -> dict:
    """The promotion decision for ``ref`` -> ``to`` without moving anything (``decision``:
    would-promote, refused or unchanged); what `promote` and the UI's confirmation show."""
    alias = to or canvas.promotion.alias
    mv = registry.get(ref, verify=True)
    record, note = None, ""
    try:
        key = served_servable(mv, canvas).key
        record, note = trusted_record(mv, canvas, key, data_dir)
        problems = acceptance_problems(mv, canvas, key, record, note)
    except MlopsError as e:  # the canvas names a servable the version lacks, none accepted...
        key, problems = None, [str(e)]
    champ_version = registry.alias_target(mv.name, alias)
    base = {"ref": mv.ref, "alias": alias, "servable": key, "problems": problems,
            "accepted": bool(record and key in record.accepted), "acceptance_trust": note,
            "previous": f"{mv.name}:{champ_version}" if champ_version else None}
    if champ_version == mv.version:
        return {**base, "decision": "unchanged", "comparison": None}
    comparison = None
    if champ_version is not None and key is not None:  # no servable: nothing to compare
        champion = registry.get(f"{mv.name}:{champ_version}", verify=True)
        try:
            comparison = compare_to_champion(mv, champion, canvas, data_dir or (
                record.raw.get("data_dir") if record else None))
        except RegistryError as e:  # the champion cannot serve the canvas's servable
            comparison = {"champion": champion.ref, "skipped": f"not compared: {e}"}
        problem = champion_problem(mv, champion, comparison, canvas)
        if problem:
            problems.append(problem)
    return {**base, "comparison": comparison,
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "user": current_user(), "canvas": canvas.source, "canvas_sha256": canvas.sha256,
            "acceptance": {k: (record.raw if record else {}).get(k)
                           for k in ("date", "passed", "canvas_sha256", "test_fingerprint")},
            "decision": "would-promote" if not problems else "refused"}


def promote(registry, ref: str, canvas, to: str | None = None, force: bool = False,
            reason: str = "", data_dir=None) -> dict:
    """Gate, then Registry.promote; raises MlopsError (exit REFUSED_EXIT) when refused."""
    if force and not reason.strip():
        raise MlopsError("--force needs --reason \"...\": a forced promotion is recorded with why")
    decision = evaluate(registry, ref, canvas, to, data_dir)
    if decision["decision"] == "unchanged":
        return decision
    problems = decision["problems"]
    decision.update(reason=reason, decision="promoted" if not problems else (
        "forced" if force else "refused"))
    name = decision["ref"].split(":")[0]
    if problems and not force:
        registry.append_audit(name, decision)
        raise MlopsError(f"promotion of {decision['ref']} to @{decision['alias']} refused: "
                         + " | ".join(problems) + ". Fix the cause, or override with --force "
                         "--reason \"...\" (recorded).", exit_code=REFUSED_EXIT)
    registry.promote(decision["ref"], decision["alias"], reason=reason,
                     action="forced" if problems else "promote")
    registry.attach(decision["ref"], layout.PROMOTION, decision)
    registry.append_audit(name, decision)
    return decision


def move_kind(registry, name: str, alias: str, version: int) -> str:
    """'rollback' when ``version`` is older than the alias's target and served under it before;
    otherwise 'move' (a move to a newer version is never called a rollback)."""
    current = registry.alias_target(name, alias)
    served = {rec.get("to") for rec in registry.history(name, alias)}
    return "rollback" if current is not None and version < current and version in served else "move"


def move(registry, name: str, alias: str, version: int, canvas, reason: str,
         force: bool = False) -> dict:
    """Move ``name@alias`` to ``version`` by hand (the UI): the promotion gate's checks decide
    (the target's served servable accepted, not worse than the current target); ``force``
    with a reason overrides and is recorded as forced. Every decision goes to the audit log."""
    if not reason.strip():
        raise MlopsError("a move needs a reason: it is recorded with the move")
    kind = move_kind(registry, name, alias, version)
    decision = evaluate(registry, f"{name}:{version}", canvas, to=alias)
    if decision["decision"] == "unchanged":
        return decision
    problems = decision["problems"]
    decision.update(reason=reason, kind=kind,
                    decision="refused" if problems and not force else "forced" if problems else kind)
    if problems and not force:
        registry.append_audit(name, decision)
        raise MlopsError(f"{kind} of {name}@{alias} to {version} refused: " + " | ".join(problems)
                         + "; tick force (with a reason) to override, recorded as forced",
                         exit_code=REFUSED_EXIT)
    if kind == "rollback" and not problems:
        registry.rollback(name, alias, reason, to=version)
    else:
        registry.promote(decision["ref"], alias, reason=reason,
                         action="forced" if problems else "move")
    registry.append_audit(name, decision)
    return decision


def rollback(registry, name: str, alias: str, version: int | None, reason: str) -> dict:
    """Move ``name@alias`` back to an earlier ``version`` (None: the one it pointed at before;
    no gate: it served before) through ``Registry.rollback`` (action "rollback" in the alias
    history); the decision also goes to promotions.jsonl like any promotion."""
    moved = registry.rollback(name, alias, reason, to=version)
    decision = {"ref": moved["ref"], "alias": alias, "date": moved["at"], "user": moved["user"],
                "previous": None if moved["from"] is None else f"{name}:{moved['from']}",
                "decision": "rollback", "problems": [], "reason": reason}
    registry.append_audit(name, decision)
    return decision
