"""The runs of a runs dir as a table (MLflow's runs view): one row per run dir, sorting and
filtering, the params of a run flattened, and the comparison of runs (params diff, metrics side
by side, curves overlaid). Reads run dirs through `train.rundir` only; torch-free. Which
registered versions came from a run is the caller's (it knows the registry): ``registered``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path

import yaml

from mlops_dl.errors import MlopsError
from mlops_dl.train import rundir

KEY_PARAMS = ("model.name", "train.lr", "train.batch_size", "train.epochs", "train.max_steps",
              "model.max_length", "train.seed")
CURVES = {"train_loss": "loss", "val_loss": "loss", "val_macro_f1": "validation macro-F1"}
MAX_POINTS = 2000  # per series; longer logs are thinned evenly
SORT_KEYS = ("id", "created", "config", "status", "val_macro_f1", "test_macro_f1")
STATUSES = ("finished", "resumable", "incomplete")


def is_run(path: Path) -> bool:
    return path.is_dir() and ((path / rundir.METRICS).is_file() or (path / rundir.LOGS).is_dir()
                              or (path / rundir.CONFIG).is_file())


def run_dirs(runs_dir: Path) -> dict[str, Path]:
    """run id -> run dir for the folders of ``runs_dir`` that are run dirs."""
    if not Path(runs_dir).is_dir():
        return {}
    return {p.name: p for p in sorted(Path(runs_dir).iterdir()) if is_run(p)}


def flat(config: dict, prefix: str = "") -> dict:
    """``{"train": {"lr": 1e-4}}`` -> ``{"train.lr": 1e-4}`` (lists kept as values)."""
    out = {}
    for key, value in (config or {}).items():
        if isinstance(value, dict) and value:
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def read_config(run_dir: Path) -> dict:
    """config.yaml as a plain mapping ({} when absent or unreadable: the row says incomplete)."""
    path = Path(run_dir) / rundir.CONFIG
    try:
        return (yaml.safe_load(path.read_text(encoding="utf-8")) or {}) if path.is_file() else {}
    except (yaml.YAMLError, UnicodeDecodeError):
        return {}


def status(run_dir: Path) -> str:
    """finished (fit.json), resumable (a last checkpoint: killed or still running), incomplete."""
    if rundir.is_finished(run_dir):
        return "finished"
    return "resumable" if rundir.has_checkpoint(run_dir) else "incomplete"


def _created(run_dir: Path, info: dict) -> str:
    if info.get("created"):
        return str(info["created"])
    first = min((p.stat().st_mtime for p in Path(run_dir).iterdir()), default=Path(run_dir).stat().st_mtime)
    return datetime.fromtimestamp(first, timezone.utc).isoformat(timespec="seconds")


def data_fingerprint(data_json: dict) -> str:
    """12 hex of the splits' fingerprints together ("" when the run has no data.json)."""
    fps = data_json.get("fingerprints") or {}
    return hashlib.sha256(json.dumps(fps, sort_keys=True).encode()).hexdigest()[:12] if fps else ""


def _json(run_dir: Path, name: str) -> dict:
    try:
        return rundir.read_json(run_dir, name, required=False) or {}
    except MlopsError:
        return {}


def summary(run_id: str, run_dir: Path, registered: dict[str, list[str]] | None = None) -> dict:
    """One row: id, date, config, data fingerprint, key params, val/test macro-F1 with n,
    the registered versions, status."""
    info, metrics = _json(run_dir, rundir.RUN), _json(run_dir, rundir.METRICS)
    cfg = flat(read_config(run_dir))
    val, test = metrics.get("validation") or {}, metrics.get("test") or {}
    config = Path(info["config"]).name if info.get("config") else cfg.get("data.name", "")
    return {
        "id": run_id, "folder": str(run_dir), "created": _created(run_dir, info),
        "command": info.get("command", ""), "config": config,
        "data_fingerprint": data_fingerprint(_json(run_dir, rundir.DATA)),
        "params": {k: cfg[k] for k in KEY_PARAMS if k in cfg},
        "val_macro_f1": val.get("macro_f1"), "val_n": val.get("n"),
        "test_macro_f1": test.get("macro_f1"), "test_n": test.get("n"),
        "registered": list((registered or {}).get(run_id, [])), "status": status(run_dir),
    }


def list_runs(index: dict[str, Path], registered: dict[str, list[str]] | None = None,
              sort: str = "created", descending: bool = True, query: str = "",
              state: str = "") -> list[dict]:
    """The rows of ``index`` (run id -> dir), filtered (``query`` in id / config / params /
    registered versions; ``state`` one of STATUSES) and sorted by ``sort`` (SORT_KEYS)."""
    if sort not in SORT_KEYS:
        raise MlopsError(f"sort {sort!r}: expected one of {', '.join(SORT_KEYS)}")
    if state and state not in STATUSES:
        raise MlopsError(f"status {state!r}: expected one of {', '.join(STATUSES)}")
    rows = [summary(run_id, path, registered) for run_id, path in index.items()]
    needle = query.strip().lower()
    if needle:
        rows = [r for r in rows if needle in _haystack(r)]
    if state:
        rows = [r for r in rows if r["status"] == state]
    present = [r for r in rows if r[sort] is not None]
    present.sort(key=lambda r: r[sort], reverse=descending)
    return present + [r for r in rows if r[sort] is None]  # runs without the figure go last


def _haystack(row: dict) -> str:
    """What a filter matches: id, config, command, versions, and each param as key=value (the
    key in full and its last part: ``train.lr=0.0001``, ``lr=0.0001``)."""
    params = [f"{k}={v} {k.split('.')[-1]}={v}" for k, v in row["params"].items()]
    return " ".join([row["id"], row["config"], row["command"], *row["registered"], *params]).lower()


def curves(run_dir: Path) -> list[dict]:
    """{step, series, panel, value} rows of logs/metrics.csv (train/val loss, val macro-F1)."""
    from mlops_dl.train.plots import read_logs

    logs_dir = rundir.logs_dir(run_dir)
    logs = read_logs(logs_dir) if logs_dir.is_dir() else None
    rows: list[dict] = []
    if logs is None or "step" not in logs:
        return rows
    for column, panel in CURVES.items():
        if column in logs:
            s = logs[["step", column]].dropna()
            s = s.iloc[:: max(len(s) // MAX_POINTS, 1)]
            rows += [{"step": int(st), "series": column, "panel": panel, "value": float(v)}
                     for st, v in zip(s["step"], s[column])]
    return rows


def compare(index: dict[str, Path], ids: list[str]) -> dict:
    """Two or more runs: params that differ (and those alike), metrics side by side, curves
    overlaid (``run`` in each curve row)."""
    if len(ids) < 2 or len(set(ids)) != len(ids):
        raise MlopsError("compare needs two or more different runs (e.g. ?run=A&run=B)")
    unknown = [i for i in ids if i not in index]
    if unknown:
        raise MlopsError(f"no run {unknown[0]!r} (known: {', '.join(sorted(index)) or 'none'})")
    params = {i: flat(read_config(index[i])) for i in ids}
    keys = sorted(set().union(*params.values()))
    rows = [{"key": k, "values": [params[i].get(k) for i in ids]} for k in keys]
    differ = [r for r in rows if len({json.dumps(v, default=str) for v in r["values"]}) > 1]
    metrics = {i: _json(index[i], rundir.METRICS) for i in ids}
    side = []
    for split in ("validation", "test"):
        for key in ("macro_f1", "accuracy", "macro_precision", "macro_recall", "n"):
            values = [(metrics[i].get(split) or {}).get(key) for i in ids]
            if any(v is not None for v in values):
                side.append({"split": split, "metric": key, "values": values})
    overlay = [{**row, "run": i} for i in ids for row in curves(index[i])]
    return {"ids": ids, "differ": differ, "same": len(rows) - len(differ), "metrics": side,
            "curves": overlay, "summaries": [summary(i, index[i]) for i in ids]}
