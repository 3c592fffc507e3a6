"""What a training run records beside its model: env.json, data.json, and plain progress lines."""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from pathlib import Path

from lightning.pytorch.callbacks import Callback

from mlops_dl import machine
from mlops_dl.data.prepared import CARD, PreparedData


def atomic_json(path: Path, data: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, ensure_ascii=False)
    os.replace(tmp, path)


def merge_metrics(run_dir: Path, values: dict) -> dict:
    """Merge ``values`` into run_dir/metrics.json atomically (``baseline``/``comparison``
    are merged one level down, so evaluating another split keeps the earlier one)."""
    path = Path(run_dir) / "metrics.json"
    current = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    for key, value in values.items():
        if key in ("baseline", "comparison") and isinstance(current.get(key), dict):
            current[key].update(value)
        else:
            current[key] = value
    atomic_json(path, current)
    return current


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


def write_env_json(path: Path) -> None:
    atomic_json(path, environment())


def write_data_json(path: Path, data: PreparedData) -> None:
    """Link the run to its data: the card, the split fingerprints and the label names."""
    atomic_json(path, {
        "data_dir": str(data.root.resolve()),
        "data_card": str((data.root / CARD).resolve()),
        "fingerprints": data.fingerprints,
        "labels": data.labels,
    })  # fmt: skip


class LineProgress(Callback):
    """One plain line every N steps and after each validation (for logs written to files)."""

    def __init__(self, every_n_steps: int = 10):
        self.every = every_n_steps
        self.t0 = time.perf_counter()
        self.step0 = 0

    def on_train_start(self, trainer, pl_module) -> None:
        self.t0, self.step0 = time.perf_counter(), trainer.global_step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if trainer.is_global_zero and step % self.every == 0 and step > self.step0:
            loss = trainer.callback_metrics.get("train_loss")
            rate = (step - self.step0) / max(time.perf_counter() - self.t0, 1e-9)
            total = trainer.estimated_stepping_batches
            print(f"step {step}/{total} epoch {trainer.current_epoch} "
                  f"loss {float(loss) if loss is not None else float('nan'):.4f} "
                  f"{rate:.2f} steps/s", flush=True)  # fmt: skip

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.is_global_zero and not trainer.sanity_checking:
            m = trainer.callback_metrics
            f1, acc = m.get("val_macro_f1"), m.get("val_accuracy")
            if f1 is not None:
                print(f"validation step {trainer.global_step}: macro-F1 {float(f1):.4f} "
                      f"accuracy {float(acc):.4f}", flush=True)  # fmt: skip
