"""The run directory: the contract between `train` and evaluate, search, export, pipeline, bench.

Layout of ``<train.runs_dir>/<run-id>/`` (run id ``<name>-<YYYYmmdd-HHMMSS>-<config hash>``,
the same for train, pipeline and a search's winner; ``new_run_id``)::

    run.json           id, created (UTC), the command and config file that started it
    config.yaml        the resolved config the run trained with
    env.json           library versions, hardware, git commit
    data.json          data_dir, data_card, split fingerprints, labels
    checkpoints/       last.ckpt, best-step*.ckpt (Lightning; resume only)
    logs/              CSV logger (metrics.csv; resume-N/ after a resume), tensorboard*/
    model/             save_pretrained: config.json (id2label), *.safetensors, tokenizer.json
    metrics.json       {"validation": ..., "test": ..., "baseline": {...}, "comparison": {...}}
    fit.json           the FitResult of a finished fit (world size, effective batch size too)
    tracking.json      the MLflow run (train.logger: mlflow): tracking URI, run id, URL, errors
    confusion_<split>.json/.png, learning_curves.png   written by evaluate

Every name is a constant here and every file is read and written through this module. No
torch or Lightning at import (export and bench import it); ``environment()`` imports them.
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import dataclass
from pathlib import Path

from mlops_dl import config as config_mod
from mlops_dl import files, machine
from mlops_dl.data.prepared import CARD, PreparedData, load_prepared
from mlops_dl.errors import DataError, MlopsError, clip

RUN = "run.json"
CONFIG = "config.yaml"
ENV = "env.json"
DATA = "data.json"
METRICS = "metrics.json"
FIT = "fit.json"
TRACKING = "tracking.json"
CHECKPOINTS = "checkpoints"
LAST_CHECKPOINT = "last.ckpt"
LOGS = "logs"
MODEL = "model"
LEARNING_CURVES = "learning_curves.png"
EXPORT_FILES = (CONFIG, METRICS, DATA, f"{MODEL}/config.json", f"{MODEL}/tokenizer.json")
MERGED_ONE_LEVEL = ("baseline", "comparison")  # metrics.json keys merged per split


# ----------------------------------------------------------------------------- paths
def model_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / MODEL


def checkpoints_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / CHECKPOINTS


def last_checkpoint(run_dir: str | Path) -> Path:
    return checkpoints_dir(run_dir) / LAST_CHECKPOINT


def logs_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / LOGS


def confusion_path(run_dir: str | Path, split: str, suffix: str = ".json") -> Path:
    return Path(run_dir) / f"confusion_{split}{suffix}"


def has_model(run_dir: str | Path) -> bool:
    """A save_pretrained model is in the run dir (training finished)."""
    return (model_dir(run_dir) / "config.json").is_file()


def has_checkpoint(run_dir: str | Path) -> bool:
    return last_checkpoint(run_dir).is_file()


def is_finished(run_dir: str | Path) -> bool:
    return (Path(run_dir) / FIT).is_file()


def model_weights(run_dir: str | Path) -> list[Path]:
    return sorted(model_dir(run_dir).glob("*.safetensors"))


# ----------------------------------------------------------------------------- ids
def new_run_id(cfg: config_mod.Config, name: str = "") -> str:
    """``<name>-<YYYYmmdd-HHMMSS>-<6 hex of the config>``; name: ``data.name`` by default."""
    import hashlib
    from datetime import datetime, timezone

    digest = hashlib.sha1(json.dumps(config_mod.to_dict(cfg), sort_keys=True).encode()).hexdigest()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{name or cfg.data.name}-{stamp}-{digest[:6]}"


# ----------------------------------------------------------------------------- writers
def write_run_info(run_dir: str | Path, command: str, config: str | Path | None) -> None:
    """run.json, once (a resume keeps the first): id, created, command, config file."""
    from datetime import datetime, timezone

    path = Path(run_dir) / RUN
    if not path.is_file():
        files.write_json(path, {
            "id": Path(run_dir).name, "command": command,
            "config": str(config) if config else None,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds")})


def write_config(run_dir: str | Path, cfg: config_mod.Config) -> None:
    config_mod.save(cfg, Path(run_dir) / CONFIG)


def write_env(run_dir: str | Path, env: dict | None = None) -> None:
    """env.json: ``env`` or, by default, this process's ``environment()``."""
    files.write_json(Path(run_dir) / ENV, environment() if env is None else env)


def write_data(run_dir: str | Path, data: PreparedData) -> None:
    """Link the run to its data: the card, the split fingerprints and the label names."""
    files.write_json(Path(run_dir) / DATA, {
        "data_dir": str(data.root.resolve()),
        "data_card": str((data.root / CARD).resolve()),
        "fingerprints": data.fingerprints,
        "labels": data.labels,
    })  # fmt: skip


def write_fit(run_dir: str | Path, record: dict) -> None:
    files.write_json(Path(run_dir) / FIT, record)


def write_tracking(run_dir: str | Path, record: dict) -> None:
    files.write_json(Path(run_dir) / TRACKING, record)


def merge_metrics(run_dir: str | Path, values: dict) -> dict:
    """Merge ``values`` into metrics.json atomically (``baseline``/``comparison`` are merged
    one level down, so evaluating another split keeps the earlier one)."""
    current = read_metrics(run_dir)
    for key, value in values.items():
        if key in MERGED_ONE_LEVEL and isinstance(current.get(key), dict):
            current[key].update(value)
        else:
            current[key] = value
    files.write_json(Path(run_dir) / METRICS, current)
    return current


def write_confusion(run_dir: str | Path, split: str, content: dict) -> None:
    files.write_json(confusion_path(run_dir, split), content)


# ----------------------------------------------------------------------------- readers
def read_json(run_dir: str | Path, name: str, required: bool = True) -> dict | None:
    """A JSON file of the run dir; missing -> MlopsError (or None when not ``required``)."""
    path = Path(run_dir) / name
    if not path.is_file():
        if required:
            raise MlopsError(f"run {run_dir}: {name} is missing")
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as e:  # also bad UTF-8, a >4300-digit integer
        raise MlopsError(f"{path}: not valid JSON: {clip(str(e))}") from None


def read_config(run_dir: str | Path, overrides=()) -> config_mod.Config:
    return config_mod.load(Path(run_dir) / CONFIG, overrides)


def read_metrics(run_dir: str | Path) -> dict:
    """metrics.json, or {} when the run has none yet."""
    return read_json(run_dir, METRICS, required=False) or {}


def read_tracking(run_dir: str | Path) -> dict | None:
    """tracking.json (the run's MLflow run), or None when the run was not tracked."""
    return read_json(run_dir, TRACKING, required=False)


def model_labels(run_dir: str | Path) -> list[str]:
    """Label names in id order, from model/config.json's id2label."""
    model_cfg = read_json(model_dir(run_dir), "config.json")
    id2label = model_cfg.get("id2label") or {}
    return [id2label[k] for k in sorted(id2label, key=int)]


def run_data(run_dir: str | Path) -> PreparedData:
    """The prepared data a run was trained on, refusing data that changed since."""
    run_dir = Path(run_dir)
    if not (run_dir / DATA).is_file():
        raise MlopsError(f"{run_dir}: no {DATA} (not a run dir written by `mlops-dl train`)")
    info = read_json(run_dir, DATA)
    data = load_prepared(info["data_dir"])
    changed = [s for s, fp in info.get("fingerprints", {}).items() if data.fingerprints.get(s) != fp]
    if changed:
        raise DataError(
            f"{info['data_dir']}: split(s) {', '.join(changed)} changed since {run_dir} was trained "
            f"(fingerprints in {run_dir / DATA} differ from {info['data_card']}); re-run `mlops-dl "
            f"data prepare` with the run's config or retrain"
        )
    if data.labels != info.get("labels"):
        raise DataError(f"{info['data_dir']}: labels {data.labels} differ from the run's {info.get('labels')}")
    return data


@dataclass
class RunRecord:
    """A finished run dir's records: config, data link, metrics and the model's labels."""

    run_dir: Path
    cfg: config_mod.Config
    data_json: dict
    metrics: dict
    labels: list[str]

    @property
    def model_dir(self) -> Path:
        return model_dir(self.run_dir)

    def read_json(self, name: str, required: bool = True) -> dict | None:
        return read_json(self.run_dir, name, required)


def read_run(run_dir: str | Path, overrides=()) -> RunRecord:
    """Open a finished run dir (the files export needs), checking that its labels agree."""
    run_dir = Path(run_dir)
    missing = [f for f in EXPORT_FILES if not (run_dir / f).is_file()]
    if missing:
        raise MlopsError(f"{run_dir} is not a complete training run dir: missing {', '.join(missing)}")
    labels = model_labels(run_dir)
    run = RunRecord(run_dir, read_config(run_dir, overrides), read_json(run_dir, DATA),
                    read_json(run_dir, METRICS), labels)  # fmt: skip
    if run.data_json.get("labels") and run.data_json["labels"] != labels:
        raise MlopsError(f"{run_dir}: model labels {labels} differ from {DATA} labels "
                         f"{run.data_json['labels']}")
    return run


# ----------------------------------------------------------------------------- env.json
def environment() -> dict:
    """Library versions, hardware and the git commit of the code that trained."""
    import lightning
    import torch
    import transformers

    from mlops_dl import __version__

    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return {
        "mlops_dl": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "lightning": lightning.__version__,
        "platform": platform.platform(),
        "cpu": machine.cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.version.cuda,
        "gpus": gpus,
        "git": machine.git_state(),
    }
