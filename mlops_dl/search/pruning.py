"""The Lightning callback that reports validation macro-F1 to Optuna and prunes a trial.

optuna_integration's PyTorchLightningPruningCallback reports at ``step=epoch``, which drops
every validation but the first of an epoch when ``train.val_check_interval < 1``; this one
steps over validation checks (1, 2, ...), so trials with different batch sizes compare at the
same fraction of the data. It also fails a trial as soon as the training loss is not finite.
"""

from __future__ import annotations

import math

import lightning as L
import optuna
import torch

MONITOR = "val_macro_f1"


class NonFiniteLoss(RuntimeError):
    """The training loss became NaN or infinite: the trial fails (it does not hang on)."""


class OptunaPruning(L.Callback):
    """After each validation: report the best macro-F1 so far, raise TrialPruned if told to.

    The reported value is the running best, the same quantity as the trial's score (the best
    validation macro-F1, not the last one).
    """

    def __init__(self, trial: optuna.Trial, monitor: str = MONITOR):
        super().__init__()
        self.trial = trial
        self.monitor = monitor
        self.checks = 0  # validation checks done (sanity check excluded)
        self.best = -math.inf
        self.global_step = 0  # optimizer steps taken, kept for pruned and failed trials too
        self.pruned_at: int | None = None  # the check at which the trial was pruned

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.global_step = trainer.global_step
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if isinstance(loss, torch.Tensor) and not bool(torch.isfinite(loss.detach()).all()):
            raise NonFiniteLoss(
                f"training loss is {loss.detach().float().item()} at step {trainer.global_step} "
                f"(learning rate too high? try a lower train.lr or train.grad_clip)"
            )

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking:
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            raise RuntimeError(f"{self.monitor} was not logged at validation; cannot prune on it")
        self.checks += 1
        self.global_step = trainer.global_step
        score = float(value)
        if math.isfinite(score):
            self.best = max(self.best, score)
        if not math.isfinite(self.best):
            return  # nothing finite to report yet
        self.trial.report(self.best, step=self.checks)
        if self.trial.should_prune():
            self.pruned_at = self.checks
            raise optuna.TrialPruned(
                f"pruned at validation check {self.checks} (step {trainer.global_step}): "
                f"best {self.monitor} {self.best:.4f}"
            )
