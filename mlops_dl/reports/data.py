"""Data card report: a prepared dataset's data_card.json and plots as one HTML page."""

from __future__ import annotations

import json
from pathlib import Path

from mlops_dl.data.prepared import CARD, load_prepared
from mlops_dl.reports.html import img, kv_table, page, table


def data_report(prepared_dir: str | Path) -> str:
    """HTML for ``<prepared_dir>``: sources, cleaning counts, splits, balance, lengths, plots."""
    data = load_prepared(prepared_dir)
    card = data.card
    labels = data.labels
    sections = [("Summary", kv_table({
        "name": card.get("name"), "created": card.get("created"), "labels": ", ".join(labels),
        "split method": card.get("split_method"), "card": str(Path(prepared_dir) / CARD),
        **{f"{s} rows": n for s, n in (card.get("splits") or {}).items()}}))]
    sources = card.get("sources") or []
    if sources:
        sections.append(("Sources", table(
            ["kind", "path / id", "split", "rows", "sha256"],
            [[s.get("kind"), s.get("path") or s.get("hub_id"), s.get("split"), s.get("rows"),
              str(s.get("sha256", ""))[:16]] for s in sources])))
    steps = (card.get("cleaning") or {}).get("steps") or []
    if steps:
        sections.append(("Cleaning", table(
            ["step", "changed", "dropped", "rows after"],
            [[s["step"], s.get("changed", ""), s.get("dropped", ""), s.get("rows")] for s in steps])))
    balance = card.get("label_balance") or {}
    if balance:
        sections.append(("Label balance", table(
            ["split", *labels], [[split, *[(counts or {}).get(lab, 0) for lab in labels]]
                                 for split, counts in balance.items()])))
    lengths = card.get("lengths") or {}
    rows = [[split, unit, st.get("min"), st.get("mean"), st.get("p50"), st.get("p95"), st.get("max")]
            for split, by_unit in lengths.items() if isinstance(by_unit, dict)
            for unit, st in by_unit.items() if isinstance(st, dict) and "count" in st]
    if rows:
        sections.append(("Lengths", table(["split", "unit", "min", "mean", "p50", "p95", "max"], rows)))
    sections.append(("Fingerprints", kv_table(card.get("fingerprints") or {})))
    plots = sorted((data.root / "plots").glob("*.png")) if (data.root / "plots").is_dir() else []
    if plots:
        sections.append(("Plots", "".join(img(p, p.stem.replace("_", " ")) for p in plots)))
    if card.get("config"):
        sections.append(("Data config", f"<pre>{json.dumps(card['config'], indent=2)}</pre>"))
    return page(f"Data card: {card.get('name', data.root.name)}", str(data.root), sections)
