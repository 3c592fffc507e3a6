"""Promotion gate: move an alias only to an accepted version that is not worse than the champion.

"Worse" = lower macro-F1 on the frozen test split with McNemar p < canvas promotion.alpha
(both versions scored through the Predictor on the same split; stored acceptance predictions
are reused). ``force`` with a reason overrides a refusal and is recorded: the decision goes to
the version's promotion.json attachment and every decision (refusals too) is appended to
the model's audit log (``Registry.append_audit``: ``<registry>/<name>/promotions.jsonl``).
"""

from __future__ import annotations

from datetime import datetime, timezone

from mlops_dl.gates.accept import ATTACHMENT, load_test_split, predictor_for, stored_predictions
from mlops_dl.errors import MlopsError
from mlops_dl.metrics import classification_report, engine_label, format_f1_change, mcnemar
from mlops_dl.registry.bundle import pick_variant
from mlops_dl.registry.store import current_user

REFUSED_EXIT = 4  # `mlops-dl promote` exit code when the gate refuses


def _acceptance_problems(mv, acc: dict | None, canvas) -> list[str]:
    if acc is None:
        return [f"{mv.ref} has no acceptance result: run `mlops-dl accept {mv.ref}` first"]
    problems = []
    if not acc.get("passed"):
        failed = [c for c in acc.get("checks", []) + (acc.get("behaviour", {}).get("checks", [])
                                                       if acc.get("behaviour", {}).get("gate") else [])
                  if not c.get("passed")]
        figures = "; ".join(f"{c['name']} {c.get('value', c.get('rate')):.4g} vs "
                            f"{c.get('threshold', c.get('min_rate')):g}" for c in failed)
        problems.append(f"{mv.ref} failed acceptance on {acc.get('date')}: {figures}")
    if acc.get("canvas_sha256") != canvas.sha256:
        problems.append(f"{mv.ref} was accepted against another canvas ({acc.get('canvas')}, "
                        f"sha256 {str(acc.get('canvas_sha256'))[:12]}); {canvas.source} has "
                        f"changed since: run `mlops-dl accept {mv.ref}` again")
    return problems


def _predictions(mv, split, variant: str) -> list[int]:
    preds = stored_predictions(mv, split, variant)
    if preds is None:
        preds = predictor_for(mv, variant).predict_proba(split.texts).argmax(axis=1).tolist()
    return preds


def compare_to_champion(mv, champion, canvas, data_dir=None) -> dict:
    """Macro-F1 of both on the challenger's test split and McNemar (a = champion)."""
    if list(champion.meta["labels"]) != list(mv.meta["labels"]):
        raise MlopsError(f"{champion.ref} labels {champion.meta['labels']} differ from "
                         f"{mv.ref} labels {mv.meta['labels']}: not comparable on one test split")
    split = load_test_split(mv, data_dir)
    variant = canvas.latency.variant
    labels = list(mv.meta["labels"])
    v_ch = pick_variant(mv.meta.get("variants", {}), variant)
    v_champ = pick_variant(champion.meta.get("variants", {}), variant)
    pred_ch, pred_champ = _predictions(mv, split, v_ch), _predictions(champion, split, v_champ)
    f1_ch = classification_report(split.gold, pred_ch, labels)["macro_f1"]
    f1_champ = classification_report(split.gold, pred_champ, labels)["macro_f1"]
    test = mcnemar(split.gold, pred_champ, pred_ch)
    return {"champion": champion.ref, "n_test": len(split.gold), "data_dir": split.data_dir,
            "champion_macro_f1": f1_champ, "challenger_macro_f1": f1_ch,
            "champion_engine": engine_label(v_champ), "challenger_engine": engine_label(v_ch),
            "delta_macro_f1": f1_ch - f1_champ, "mcnemar": test, "alpha": canvas.promotion.alpha,
            "worse": f1_ch < f1_champ and test["p_value"] < canvas.promotion.alpha}


def f1_versus(c: dict) -> str:
    """'test macro-F1 (ONNX int8) 0.6100 vs champion 0.6300 (ONNX int8): ΔF1 -2.00 pts on N texts'."""
    return (f"test macro-F1 ({c.get('challenger_engine', '?')}) {c['challenger_macro_f1']:.4f} vs "
            f"champion {c['champion_macro_f1']:.4f} ({c.get('champion_engine', '?')}): ΔF1 "
            f"{format_f1_change(100 * c['delta_macro_f1'])} on {c['n_test']} test texts")


def promote(registry, ref: str, canvas, to: str | None = None, force: bool = False,
            reason: str = "", data_dir=None) -> dict:
    """Gate, then Registry.promote; raises MlopsError (exit REFUSED_EXIT) when refused."""
    if force and not reason.strip():
        raise MlopsError("--force needs --reason \"...\": a forced promotion is recorded with why")
    alias = to or canvas.promotion.alias
    mv = registry.get(ref, verify=True)
    acc = mv.attachment(ATTACHMENT)
    problems = _acceptance_problems(mv, acc, canvas)
    champ_version = registry.alias_target(mv.name, alias)
    if champ_version == mv.version:
        return {"ref": mv.ref, "alias": alias, "decision": "unchanged", "problems": problems}
    comparison = None
    if champ_version is not None:
        champion = registry.get(f"{mv.name}:{champ_version}", verify=True)
        comparison = compare_to_champion(mv, champion, canvas, data_dir or (acc or {}).get("data_dir"))
        if comparison["worse"]:
            t = comparison["mcnemar"]
            problems.append(
                f"{mv.ref} is worse than the champion {champion.ref}: {f1_versus(comparison)}, "
                f"McNemar p = {t['p_value']:.3g} < {canvas.promotion.alpha} (champion right / "
                f"challenger wrong: {t['a_right_b_wrong']}, the reverse: {t['a_wrong_b_right']})")
    decision = {
        "ref": mv.ref, "alias": alias, "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "user": current_user(), "previous": f"{mv.name}:{champ_version}" if champ_version else None,
        "canvas": canvas.source, "canvas_sha256": canvas.sha256,
        "acceptance": {k: (acc or {}).get(k) for k in ("date", "passed", "canvas_sha256")},
        "comparison": comparison, "problems": problems,
        "decision": "promoted" if not problems else ("forced" if force else "refused"),
        "reason": reason,
    }
    if problems and not force:
        registry.append_audit(mv.name, decision)
        raise MlopsError(f"promotion of {mv.ref} to @{alias} refused: " + " | ".join(problems)
                         + ". Fix the cause, or override with --force --reason \"...\" (recorded).",
                         exit_code=REFUSED_EXIT)
    registry.promote(mv.ref, alias, reason=reason, action="promote")
    registry.attach(mv.ref, "promotion.json", decision)
    registry.append_audit(mv.name, decision)
    return decision


def rollback(registry, name: str, alias: str, version: int | None, reason: str) -> dict:
    """Move ``name@alias`` back to an earlier ``version`` (None: the one it pointed at before;
    no gate: it served before) through
    ``Registry.rollback`` (the move lands in the alias history with action "rollback"); the
    decision also goes to promotions.jsonl like any promotion."""
    moved = registry.rollback(name, alias, reason, to=version)
    decision = {"ref": moved["ref"], "alias": alias, "date": moved["at"], "user": moved["user"],
                "previous": None if moved["from"] is None else f"{name}:{moved['from']}",
                "decision": "rollback", "problems": [], "reason": reason}
    registry.append_audit(name, decision)
    return decision
