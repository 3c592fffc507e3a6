"""Which servable `serve` and `predict` would choose from one bench report (runtime.auto's
rule on the report's figures), so the report says it beside the figures it is chosen from."""

from __future__ import annotations


def recommend(mv, report: dict, budget_ms: float | None = None) -> dict:
    """What engine and variant ``auto`` would pick from these figures (runtime.auto's rule),
    for ``serve`` (latency: batch-1 p99 within ``budget_ms``, then texts/s) and for
    ``predict`` / Ray scoring (throughput), or why nothing."""
    from mlops_dl.errors import MlopsError
    from mlops_dl.runtime import auto, criteria

    try:
        pairs, skipped, note = auto.candidates(mv, "auto", "auto")
    except MlopsError as e:
        return {"serve": {"servable": None, "why": str(e)},
                "predict": {"servable": None, "why": str(e)}}
    pool = "accepted" if note["accepted_only"] else "unaccepted (no acceptance record)"
    out = {"accepted_only": note["accepted_only"], "skipped": skipped, "budget_ms": budget_ms}
    for command, purpose in (("serve", "latency"), ("predict", "throughput")):
        figures = auto.figures_in(report, pairs, purpose)
        if not figures:
            out[command] = {"servable": None, "why": "not every candidate was measured"}
            continue
        best, criterion = criteria.rank(figures, purpose, budget_ms)
        out[command] = {"servable": best, "purpose": purpose, "figures": figures,
                        "why": f"best of {len(figures)} {pool} batch-invariant servables by "
                               f"{criterion}: {criteria.summary(figures, best, purpose)}"}
    return out
