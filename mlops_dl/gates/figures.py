"""Every figure says what it is: its split, n, and what computed it; a verdict before tables.

A version's metrics.json holds the run's PyTorch figures: ``test`` only when the run was
evaluated (`mlops-dl evaluate RUN`), ``validation`` from that evaluation or from training's
best check, which may have seen part of the split (``train.limit_val_batches``). A partial
figure is marked so and never placed beside a full one.
"""

from __future__ import annotations

from mlops_dl.registry import layout

SPLITS = ("validation", "test")
ALPHA = 0.05  # the verdict's significance level (McNemar)


def split_sizes(mv) -> dict[str, int]:
    """Rows per split of the version's prepared data ({} when it cannot be found here)."""
    from mlops_dl.errors import MlopsError

    try:
        from mlops_dl.data.prepared import load_prepared

        prepared = load_prepared(mv.lineage.get("data_dir") or "")
        return {s: len(prepared.texts_labels(s)[0]) for s in SPLITS}
    except (MlopsError, OSError, KeyError, ValueError):
        return {}


def figure(mv, split: str, sizes: dict[str, int] | None = None) -> dict:
    """{value, n, of, split, by, complete, text} of ``split``'s macro-F1 in ``mv``."""
    report = (mv.read_json(layout.METRICS) or {}).get(split) or {}
    value, n = report.get("macro_f1"), report.get("n")
    if value is None:
        run = mv.lineage.get("run_dir") or mv.meta.get("source_run", "RUN_DIR")
        return {"value": None, "n": None, "split": split, "complete": None,
                "text": f"not evaluated on {split}: run `mlops-dl evaluate {run}`"}
    of = (sizes if sizes is not None else split_sizes(mv)).get(split)
    complete = None if of is None or n is None else n >= of
    where = f"n={n:,}" if complete is not False else f"partial: n={n:,} of {of:,}"
    return {"value": float(value), "n": n, "of": of, "split": split, "complete": complete,
            "by": "PyTorch", "text": f"{value:.4f} ({split}, {where}, PyTorch)"}


def version_figures(mv) -> dict[str, dict]:
    sizes = split_sizes(mv)
    return {s: figure(mv, s, sizes) for s in SPLITS}


def comparable(fa: dict, fb: dict) -> bool:
    """Two figures may sit side by side: both there, both complete, the same n."""
    return (fa["value"] is not None and fb["value"] is not None and fa["n"] == fb["n"]
            and fa["complete"] is not False and fb["complete"] is not False)


def chart_measure(figs: dict[int, dict[str, dict]]) -> tuple[str, list[dict]]:
    """One measure across versions: test macro-F1 where every plotted version has it, else
    the complete validation macro-F1; one series per n (different n are never one line)."""
    for split in ("test", "validation"):
        pts = [{"version": v, "value": f[split]["value"], "n": f[split]["n"],
                "metric": f"{split} macro-F1 (n={f[split]['n']:,})"}
               for v, f in sorted(figs.items())
               if f[split]["value"] is not None and f[split]["complete"] is not False]
        if pts:
            return f"{split} macro-F1 (PyTorch; one series per n)", pts
    return "no complete figure to plot", []


def verdict(a_ref: str, b_ref: str, stats: dict, what: str) -> str:
    """'B is worse: -10.20 pts accuracy on 2,000 shared test texts (McNemar p = 1e-25)'."""
    n = stats.get("n_shared") or 0
    if not n:
        return f"{a_ref} and {b_ref} share no {what} texts: no verdict"
    delta = 100 * (stats["accuracy_b"] - stats["accuracy_a"])
    p = stats["mcnemar"]["p_value"]
    where = f"{delta:+.2f} pts accuracy on {n:,} shared {what} texts (McNemar p = {p:.2g})"
    if p >= ALPHA:
        return f"no significant difference between {a_ref} and {b_ref}: {where}"
    return f"{b_ref} is {'better' if delta > 0 else 'worse'} than {a_ref}: {where}"
