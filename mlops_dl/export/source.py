"""The run dir export reads, through the run-dir contract (`train.rundir`), plus its validation texts."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mlops_dl.data.prepared import load_prepared
from mlops_dl.errors import DataError
from mlops_dl.train import rundir


class RunSource(rundir.RunRecord):
    """A finished training run dir, as export reads it."""

    def validation_split(self, n: int) -> tuple[list[str], list[int]]:
        """A seeded sample of ``n`` validation texts and gold ids from the run's prepared data."""
        data_dir = self.data_json.get("data_dir")
        if not data_dir or not Path(data_dir).is_dir():
            raise DataError(f"{self.run_dir / rundir.DATA}: data_dir {data_dir!r} does not exist; "
                            f"the validation texts are needed to check the export")
        data = load_prepared(data_dir)
        if data.labels != self.labels:
            raise DataError(f"{data_dir}: labels {data.labels} differ from the model's {self.labels}")
        texts, gold = data.texts_labels("validation")
        if not texts:
            raise DataError(f"{data_dir}: the validation split is empty")
        if n < len(texts):  # a seeded sample: split files keep source order (often by label)
            keep = sorted(np.random.default_rng(0).permutation(len(texts))[:n].tolist())
            texts, gold = [texts[i] for i in keep], [gold[i] for i in keep]
        return texts, gold


def open_run(run_dir: str | Path, overrides=()) -> RunSource:
    """Open a finished run dir for export (``overrides``: ``export.x=v`` on its config.yaml)."""
    record = rundir.read_run(run_dir, overrides)
    return RunSource(record.run_dir, record.cfg, record.data_json, record.metrics, record.labels)
