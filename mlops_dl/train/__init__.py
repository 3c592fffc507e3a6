"""Fine-tuning and evaluation: fit(cfg) -> run dir, the run-dir contract, evaluation, baseline.

Importing this package imports no torch or Lightning: export, bench and the serving path read
run dirs through `train.rundir` and reach the training stack lazily.
"""

from __future__ import annotations


def __getattr__(name: str):
    """`mlops_dl.train.fit` / `FitResult` without importing Lightning at package import."""
    if name in ("fit", "FitResult"):
        from mlops_dl.train import fitting

        return getattr(fitting, name)
    raise AttributeError(f"module 'mlops_dl.train' has no attribute {name!r}")
