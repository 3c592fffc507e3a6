"""Runs and studies: the runs table (sortable, filterable), a run's params, metrics and curves,
runs compared, and the trials of a search study (from the files the search writes: trials.csv,
summary.json; the live study is optuna-dashboard's job). The run records are `train.catalog`'s."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from mlops_dl.errors import MlopsError
from mlops_dl.registry import Registry, check_name, layout
from mlops_dl.train import catalog, rundir
from mlops_dl.ui import charts
from mlops_dl.ui.catalog import stored_json

def registered_runs(reg: Registry) -> dict[str, list[str]]:
    """run id -> the registered versions exported from it (from each version's lineage.json)."""
    out: dict[str, list[str]] = {}
    for name in reg.list_models():
        for mv in reg.list_versions(name):
            run_id = stored_json(mv, layout.LINEAGE).get("run_id")
            if run_id:
                out.setdefault(str(run_id), []).append(mv.ref)
    return out


def run_index(runs_dir: Path, reg: Registry) -> dict[str, Path]:
    """run id -> run dir: the folders of ``runs_dir`` and the runs registered versions came from."""
    out = catalog.run_dirs(runs_dir)
    for name in reg.list_models():
        for mv in reg.list_versions(name):
            run = stored_json(mv, layout.LINEAGE).get("run_dir")
            if run and catalog.is_run(Path(run)):
                out.setdefault(Path(run).name, Path(run))
    return out


def study_index(studies_dir: Path) -> dict[str, Path]:
    if not studies_dir.is_dir():
        return {}
    return {p.name: p for p in sorted(studies_dir.iterdir())
            if (p / "trials.csv").is_file() or (p / "summary.json").is_file()}


def runs_table(index: dict[str, Path], reg: Registry, sort: str, order: str, query: str,
               state: str) -> dict:
    """The runs page: rows sorted and filtered as the query string says."""
    if order not in ("asc", "desc"):
        raise MlopsError(f"order {order!r}: expected asc or desc")
    rows = catalog.list_runs(index, registered_runs(reg), sort, order == "desc", query, state)
    return {"rows": rows, "sort": sort, "order": order, "q": query, "state": state,
            "total": len(index), "sort_keys": catalog.SORT_KEYS, "statuses": catalog.STATUSES,
            "key_params": catalog.KEY_PARAMS}


def run_page(run_dir: Path, run_id: str, reg: Registry | None = None) -> dict:
    """Params, metrics per split (with per-class figures and the baseline), curves, reports."""
    rows = catalog.curves(run_dir)
    config = catalog.read_config(run_dir)
    registered = registered_runs(reg).get(run_id, []) if reg is not None else []
    return {"id": run_id, "folder": str(run_dir), "summary": catalog.summary(run_id, run_dir),
            "registered": registered, "metrics": rundir.read_metrics(run_dir),
            "mlflow_url": (rundir.read_tracking(run_dir) or {}).get("url") or None,
            "params": catalog.flat(config), "config": config or None,
            "chart": charts.learning_curves(rows) if rows else None}


def compare_page(index: dict[str, Path], ids: list[str]) -> dict:
    """Runs side by side: params diff, metrics, overlaid curves."""
    for run_id in ids:
        check_name(run_id, "run")
    result = catalog.compare(index, ids)
    result["chart"] = charts.curves_overlay(result["curves"]) if result["curves"] else None
    return result


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
    if not catalog.is_run(path):
        raise MlopsError(f"study {folder.name} has no run dir for trial {number} (pruned trials' "
                         f"runs are removed unless search.keep_trial_runs)")
    return path


def lookup(index: dict[str, Path], key: str, what: str) -> Path:
    check_name(key, what)
    if key not in index:
        raise MlopsError(f"no {what} {key!r} (known: {', '.join(sorted(index)) or 'none'})")
    return index[key]
