"""A training run dir read per the run-dir contract: config, metrics, data link, model dir."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlops_dl import config as config_mod
from mlops_dl.data.prepared import load_prepared
from mlops_dl.errors import DataError, MlopsError

RUN_FILES = ("config.yaml", "metrics.json", "data.json", "model/config.json", "model/tokenizer.json")


@dataclass
class RunSource:
    """A training run dir, read per the run-dir contract."""

    run_dir: Path
    cfg: config_mod.Config
    data_json: dict
    metrics: dict
    labels: list[str]

    @property
    def model_dir(self) -> Path:
        return self.run_dir / "model"

    def read_json(self, name: str, required: bool = True) -> dict | None:
        path = self.run_dir / name
        if not path.is_file():
            if required:
                raise MlopsError(f"run {self.run_dir}: {name} is missing")
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise MlopsError(f"{path}: not valid JSON: {e}") from None

    def validation_split(self, n: int) -> tuple[list[str], list[int]]:
        """A seeded sample of ``n`` validation texts (all when fewer) and their label ids."""
        return self.split_sample("validation", n)

    def calibration_texts(self, n: int) -> list[str]:
        """A seeded sample of ``n`` training texts: what static int8 calibrates its ranges on."""
        return self.split_sample("train", n)[0]

    def split_sample(self, split: str, n: int) -> tuple[list[str], list[int]]:
        data_dir = self.data_json.get("data_dir")
        if not data_dir or not Path(data_dir).is_dir():
            raise DataError(f"{self.run_dir / 'data.json'}: data_dir {data_dir!r} does not exist; "
                            f"the {split} texts are needed to check the export")
        data = load_prepared(data_dir)
        if data.labels != self.labels:
            raise DataError(f"{data_dir}: labels {data.labels} differ from the model's {self.labels}")
        texts, gold = data.texts_labels(split)
        if not texts:
            raise DataError(f"{data_dir}: the {split} split is empty")
        if n < len(texts):  # a seeded sample: split files keep source order (often by label)
            keep = sorted(np.random.default_rng(0).permutation(len(texts))[:n].tolist())
            texts, gold = [texts[i] for i in keep], [gold[i] for i in keep]
        return texts, gold


def open_run(run_dir: str | Path, overrides=()) -> RunSource:
    run_dir = Path(run_dir)
    missing = [f for f in RUN_FILES if not (run_dir / f).is_file()]
    if missing:
        raise MlopsError(f"{run_dir} is not a complete training run dir: missing {', '.join(missing)}")
    cfg = config_mod.load(run_dir / "config.yaml", overrides)
    model_cfg = json.loads((run_dir / "model" / "config.json").read_text(encoding="utf-8"))
    id2label = model_cfg.get("id2label") or {}
    labels = [id2label[k] for k in sorted(id2label, key=int)]
    run = RunSource(run_dir, cfg, {}, {}, labels)
    run.data_json = run.read_json("data.json")
    run.metrics = run.read_json("metrics.json")
    if run.data_json.get("labels") and run.data_json["labels"] != labels:
        raise MlopsError(f"{run_dir}: model labels {labels} differ from data.json labels "
                         f"{run.data_json['labels']}")
    return run
