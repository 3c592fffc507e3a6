"""PNG plots for the data card: label balance per split and length histograms.

Drawn with matplotlib's Agg canvas directly (no pyplot, no global backend switch).
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from mlops_dl.data.prepared import SPLITS

COLORS = {"train": "#4C72B0", "validation": "#DD8452", "test": "#55A868"}


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def label_balance_png(balance: dict[str, dict[str, int]], labels: list[str], title: str) -> bytes:
    """Grouped bars: share of each label per split, with the row counts on top."""
    many = len(labels) > 4  # counts would overlap side by side: upright text, wider figure
    fig = Figure(figsize=(max(7.0, 1.5 * len(labels)), 4.4 if many else 4))
    ax = fig.add_subplot()
    x = np.arange(len(labels))
    width = 0.8 / len(SPLITS)
    top = 0.0
    for i, split in enumerate(SPLITS):
        counts = np.array([balance[split].get(name, 0) for name in labels], dtype=float)
        total = counts.sum() or 1.0
        bars = ax.bar(x + (i - 1) * width, counts / total, width, label=f"{split} (n={int(total)})",
                      color=COLORS[split])
        ax.bar_label(bars, labels=[f"{int(c):,}" for c in counts], fontsize=7, padding=2,
                     rotation=90 if many else 0)
        top = max(top, float((counts / total).max()))
    ax.set_xticks(x, labels, rotation=20 if many else 0)
    ax.set_ylabel("share of split")
    ax.set_ylim(0, min(1.0, top) * (1.3 if many else 1.12) + 0.02)
    ax.set_title(f"{title}: label balance per split")
    ax.legend(fontsize=8)
    return _png(fig)


def length_histogram_png(
    raw: dict[str, dict[str, list[int]]], title: str, max_length: int
) -> bytes:
    """Histograms of text length per split, characters and (when known) tokens."""
    kinds = ["chars"] + (["tokens"] if all("tokens" in raw[s] for s in SPLITS) else [])
    fig = Figure(figsize=(6 * len(kinds), 4))
    for k, kind in enumerate(kinds):
        ax = fig.add_subplot(1, len(kinds), k + 1)
        every = np.concatenate([np.asarray(raw[s][kind]) for s in SPLITS])
        top = float(np.percentile(every, 99.5)) if every.size else 1.0
        step = max(1, int(np.ceil(top / 40)))  # integer-aligned bins: lengths are integers
        bins = np.arange(0, top + 2 * step, step) - 0.5
        for split in SPLITS:  # the longest 0.5 % are counted in the last bin
            ax.hist(np.minimum(raw[split][kind], top), bins=bins, density=True, histtype="step",
                    linewidth=1.5, label=f"{split} (n={len(raw[split][kind])})",
                    color=COLORS[split])
        if kind == "tokens":
            ax.axvline(max_length, color="black", linestyle="--", linewidth=1,
                       label=f"model.max_length={max_length}")
        unit = "characters" if kind == "chars" else "tokens (incl. special)"
        ax.set_xlabel(f"{unit}; longer than p99.5={top:.0f} in the last bin")
        ax.set_ylabel("density")
        ax.set_title(f"{title}: text length ({kind})")
        ax.legend(fontsize=8)
    return _png(fig)
