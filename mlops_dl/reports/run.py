"""Run report: metrics.json (model vs baseline), confusion matrices, learning curves, config."""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml

from mlops_dl.errors import MlopsError
from mlops_dl.reports.html import img, kv_table, page, table
from mlops_dl.train import rundir

METRICS = ("accuracy", "macro_precision", "macro_recall", "macro_f1")


def _metric_rows(metrics: dict) -> list[list]:
    rows = []
    for split in ("validation", "test"):
        if split in metrics:
            rows.append([f"model / {split}", *[metrics[split].get(k) for k in METRICS]])
        base = (metrics.get("baseline") or {}).get(split)
        if base:
            rows.append([f"baseline / {split}", *[base.get(k) for k in METRICS]])
    return rows


def _plots(run_dir: Path, metrics: dict, labels: list[str], tmp: Path) -> list[Path]:
    """The run's PNGs; confusion / learning-curve figures drawn here when the run has none."""
    from mlops_dl.train import plots as evaluate_plots

    pngs = sorted({*run_dir.glob("*.png"), *run_dir.glob("plots/*.png")})
    if not any("confusion" in p.name for p in pngs):
        for split in ("test", "validation"):
            if (metrics.get(split) or {}).get("confusion_matrix") and labels:
                evaluate_plots.confusion_png(tmp / f"confusion_{split}.png", metrics, split, labels)
                pngs.append(tmp / f"confusion_{split}.png")
    if not any("learning" in p.name for p in pngs) and rundir.logs_dir(run_dir).is_dir():
        if evaluate_plots.learning_curves_png(tmp / rundir.LEARNING_CURVES, rundir.logs_dir(run_dir)):
            pngs.append(tmp / rundir.LEARNING_CURVES)
    return pngs


def run_report(run_dir: str | Path) -> str:
    """HTML for a run dir (the run-dir contract: metrics.json, config.yaml, data.json, PNGs)."""
    run_dir = Path(run_dir)
    metrics = rundir.read_json(run_dir, rundir.METRICS, required=False)
    if metrics is None:
        raise MlopsError(f"{run_dir}: no {rundir.METRICS} (not a finished run dir; "
                         f"run `mlops-dl evaluate` or train to the end first)")
    data = rundir.read_json(run_dir, rundir.DATA, required=False) or {}
    config_path = run_dir / rundir.CONFIG  # read as plain YAML: a report shows what is there
    cfg = yaml.safe_load(config_path.read_text()) if config_path.is_file() else {}
    split = "test" if "test" in metrics else "validation"
    labels = data.get("labels") or list((metrics.get(split) or {}).get("per_class", {}))
    sections = [("Summary", kv_table({
        "run": run_dir.name, "base model": (cfg.get("model") or {}).get("name"),
        "data": data.get("data_dir"), "labels": ", ".join(labels),
        "lr": (cfg.get("train") or {}).get("lr"), "epochs": (cfg.get("train") or {}).get("epochs"),
        "batch size": (cfg.get("train") or {}).get("batch_size")}))]
    sections.append(("Metrics", table(["model / split", *METRICS], _metric_rows(metrics))))
    per_class = (metrics.get(split) or {}).get("per_class") or {}
    if per_class:
        sections.append((f"Per class ({split})", table(
            ["label", "precision", "recall", "f1", "support"],
            [[lab, v.get("precision"), v.get("recall"), v.get("f1"), v.get("support")]
             for lab, v in per_class.items()])))
    with tempfile.TemporaryDirectory() as tmp:
        pngs = _plots(run_dir, metrics, labels, Path(tmp))
        if pngs:
            sections.append(("Figures", "".join(img(p, p.stem.replace("_", " ")) for p in pngs)))
    if cfg:
        sections.append(("Resolved config", f"<pre>{yaml.safe_dump(cfg, sort_keys=False)}</pre>"))
    return page(f"Run {run_dir.name}", str(run_dir.resolve()), sections)
