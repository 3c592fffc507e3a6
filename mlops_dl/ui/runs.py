"""Runs and studies: learning curves of a run dir, the trials of a search study (from the files
the search writes: trials.csv, summary.json; the live study is optuna-dashboard's job)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import yaml

from mlops_dl.errors import MlopsError
from mlops_dl.registry import Registry, check_name, layout
from mlops_dl.train import rundir
from mlops_dl.train.plots import read_logs
from mlops_dl.ui import charts
from mlops_dl.ui.catalog import stored_json

CURVES = {"train_loss": "loss", "val_loss": "loss", "val_macro_f1": "validation macro-F1"}
MAX_POINTS = 2000  # per series; longer logs are thinned evenly


def _is_run(path: Path) -> bool:
    return path.is_dir() and ((path / "metrics.json").is_file() or (path / "logs").is_dir())


def run_index(runs_dir: Path, reg: Registry) -> dict[str, Path]:
    """run id -> run dir: the folders of ``runs_dir`` and the runs registered versions came from."""
    out = {p.name: p for p in sorted(runs_dir.glob("*")) if _is_run(p)} if runs_dir.is_dir() else {}
    for name in reg.list_models():
        for mv in reg.list_versions(name):
            run = stored_json(mv, layout.LINEAGE).get("run_dir")
            if run and _is_run(Path(run)):
                out.setdefault(Path(run).name, Path(run))
    return out


def study_index(studies_dir: Path) -> dict[str, Path]:
    if not studies_dir.is_dir():
        return {}
    return {p.name: p for p in sorted(studies_dir.iterdir())
            if (p / "trials.csv").is_file() or (p / "summary.json").is_file()}


def run_page(run_dir: Path, run_id: str) -> dict:
    """Learning curves (train/validation loss, validation macro-F1), metrics and config."""
    logs = read_logs(run_dir / "logs") if (run_dir / "logs").is_dir() else pd.DataFrame()
    rows = []
    for column, panel in CURVES.items():
        if column in logs and "step" in logs:
            s = logs[["step", column]].dropna()
            s = s.iloc[:: max(len(s) // MAX_POINTS, 1)]
            rows += [{"step": int(st), "series": column, "panel": panel, "value": float(v)}
                     for st, v in zip(s["step"], s[column])]
    cfg = run_dir / "config.yaml"
    return {"id": run_id, "folder": str(run_dir),
            "metrics": rundir.read_metrics(run_dir),
            "mlflow_url": (rundir.read_tracking(run_dir) or {}).get("url") or None,
            "config": yaml.safe_load(cfg.read_text(encoding="utf-8")) if cfg.is_file() else None,
            "chart": charts.learning_curves(rows) if rows else None}


def _redact(url: str) -> str:
    return re.sub(r"://[^/@]*@", "://***@", url or "")


def study_page(folder: Path, dashboard_url: str | None) -> dict:
    """The study's trials (number, state, value, parameters) and how to open optuna-dashboard."""
    summary = stored_json_path(folder / "summary.json")
    trials = pd.read_csv(folder / "trials.csv") if (folder / "trials.csv").is_file() else pd.DataFrame()
    params = [c for c in trials.columns if c.startswith("params_")]
    rows = []
    for t in trials.to_dict("records"):
        value = t.get("value")
        rows.append({"number": int(t["number"]), "state": t.get("state"),
                     "value": None if pd.isna(value) else float(value),
                     "params": {c.removeprefix("params_"): t[c] for c in params},
                     "run": (folder / "trials" / f"trial-{int(t['number']):04d}").is_dir()})
    points = [{"number": r["number"], "value": r["value"], "state": r["state"]}
              for r in rows if r["value"] is not None]
    storage = _redact(str(summary.get("storage") or f"sqlite:///{(folder / 'study.db').resolve()}"))
    return {"name": folder.name, "summary": summary, "rows": rows,
            "params": [p.removeprefix("params_") for p in params],
            "chart": charts.trials(points) if points else None,
            "dashboard_url": dashboard_url, "dashboard_command": f"optuna-dashboard {storage}"}


def stored_json_path(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except json.JSONDecodeError:
        return {}


def trial_dir(folder: Path, number: int) -> Path:
    path = folder / "trials" / f"trial-{number:04d}"
    if not _is_run(path):
        raise MlopsError(f"study {folder.name} has no run dir for trial {number} (pruned trials' "
                         f"runs are removed unless search.keep_trial_runs)")
    return path


def lookup(index: dict[str, Path], key: str, what: str) -> Path:
    check_name(key, what)
    if key not in index:
        raise MlopsError(f"no {what} {key!r} (known: {', '.join(sorted(index)) or 'none'})")
    return index[key]
