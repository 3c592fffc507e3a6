"""Plain progress lines for training logs written to files (a Lightning callback)."""

from __future__ import annotations

import time

from lightning.pytorch.callbacks import Callback

from mlops_dl.progress import eta_text, remaining_s


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
            elapsed = max(time.perf_counter() - self.t0, 1e-9)
            rate = (step - self.step0) / elapsed
            total = int(trainer.estimated_stepping_batches)
            left = remaining_s(step - self.step0, total - self.step0, elapsed)
            eta = f", ETA {eta_text(left)}" if left is not None and total > 0 else ""
            print(f"step {step}/{total} epoch {trainer.current_epoch} "
                  f"loss {float(loss) if loss is not None else float('nan'):.4f} "
                  f"{rate:.2f} steps/s{eta}", flush=True)  # fmt: skip

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.is_global_zero and not trainer.sanity_checking:
            m = trainer.callback_metrics
            f1, acc = m.get("val_macro_f1"), m.get("val_accuracy")
            if f1 is not None:
                print(f"validation step {trainer.global_step}: macro-F1 {float(f1):.4f} "
                      f"accuracy {float(acc):.4f}", flush=True)  # fmt: skip
