"""PNG reports of a run: confusion matrices and learning curves (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mlops_dl import files


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    files.write_with(path, lambda tmp: fig.savefig(tmp, dpi=110, bbox_inches="tight"), ".png")


def confusion_png(path: Path, results: dict, split: str, labels: list[str]) -> None:
    """Model (and baseline) confusion matrices on ``split``, row-normalised colours, counts."""
    plt = _pyplot()
    panels = [("model", results[split])]
    if "baseline" in results:
        panels.append(("TF-IDF baseline", results["baseline"][split]))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.4), squeeze=False)
    for ax, (title, report) in zip(axes[0], panels):
        cm = np.asarray(report["confusion_matrix"])  # (L, L) gold x predicted
        share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
        ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
        for i in range(cm.shape[0]):
            for j in range(cm.shape[1]):
                ax.text(j, i, str(cm[i, j]), ha="center", va="center",
                        color="white" if share[i, j] > 0.5 else "black")  # fmt: skip
        ax.set_xticks(range(len(labels)), labels, rotation=30)
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlabel("predicted")
        if ax is axes[0][0]:
            ax.set_ylabel("gold")
        ax.set_title(f"{title} ({split}) macro-F1 {report['macro_f1']:.3f}")
    _save(fig, path)
    plt.close(fig)


def read_logs(logs_dir: Path) -> pd.DataFrame:
    """All CSV logs of a run (the first attempt and any resumes); a resume's rows win."""
    files = sorted(Path(logs_dir).glob("**/metrics.csv"), key=lambda p: (p.parent != Path(logs_dir), str(p)))
    frames = [pd.read_csv(f).assign(_attempt=i) for i, f in enumerate(files)]
    if not frames:
        return pd.DataFrame()
    df = pd.concat(frames, ignore_index=True)
    for attempt in range(1, len(frames)):  # drop rows a later attempt replayed
        first = df.loc[df["_attempt"] == attempt, "step"].min()
        df = df[~((df["_attempt"] < attempt) & (df["step"] >= first))]
    return df.sort_values("step").reset_index(drop=True)


def learning_curves_png(path: Path, logs_dir: Path) -> bool:
    """Train/validation loss and validation macro-F1 against the step; False when no logs."""
    df = read_logs(logs_dir)
    if df.empty or "step" not in df:
        return False
    plt = _pyplot()
    fig, (ax_loss, ax_f1) = plt.subplots(1, 2, figsize=(10, 3.8))
    if "train_loss" in df:
        s = df[["step", "train_loss"]].dropna()
        ax_loss.plot(s["step"], s["train_loss"], alpha=0.35, label="train loss (per batch)")
        smooth = s["train_loss"].ewm(alpha=0.2).mean()
        ax_loss.plot(s["step"], smooth, color="tab:blue", label="train loss (EMA)")
    if "val_loss" in df:
        s = df[["step", "val_loss"]].dropna()
        ax_loss.plot(s["step"], s["val_loss"], marker="o", label="validation loss")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("loss")
    ax_loss.legend()
    if "val_macro_f1" in df:
        s = df[["step", "val_macro_f1"]].dropna()
        ax_f1.plot(s["step"], s["val_macro_f1"], marker="o", color="tab:green")
    ax_f1.set_xlabel("step")
    ax_f1.set_ylabel("validation macro-F1")
    fig.suptitle("learning curves")
    _save(fig, path)
    plt.close(fig)
    return True
