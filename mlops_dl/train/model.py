"""The network and its LightningModule: a Hugging Face sequence classifier trained with AdamW.

``load_network`` builds the ``nn.Module`` (and tokenizer) from a model reference;
``SequenceClassifier`` wraps it with the loss, the optimiser schedule and the validation
metrics. The network stays a plain transformers model, so ``save_pretrained`` works on it.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch import nn

from mlops_dl import metrics, quiet
from mlops_dl.config import ModelConfig, TrainConfig
from mlops_dl.errors import MlopsError
from mlops_dl.locate import hub_error, resolve_model


def load_network(model_cfg: ModelConfig, labels: list[str]):
    """(network, tokenizer) for ``model_cfg.name`` with a head over ``labels``.

    A checkpoint whose head has another size (or none) gets a new, randomly initialised head.
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    ref = resolve_model(model_cfg.name)
    is_local = Path(ref).is_dir()
    try:
        tokenizer = AutoTokenizer.from_pretrained(ref)
        with quiet.drop_messages("transformers.modeling_utils", quiet.HF_LOAD_REPORT):
            network, info = AutoModelForSequenceClassification.from_pretrained(
                ref,
                num_labels=len(labels),
                id2label=dict(enumerate(labels)),
                label2id={name: i for i, name in enumerate(labels)},
                ignore_mismatched_sizes=True,
                attn_implementation=model_cfg.attn_implementation,
                output_loading_info=True,
            )
    except (OSError, ValueError) as e:
        if is_local:
            raise MlopsError(f"model directory {ref}: cannot load it: {e}") from None
        raise hub_error(model_cfg.name, e) from None
    if not tokenizer.is_fast:
        raise MlopsError(f"model {model_cfg.name!r}: needs a fast tokenizer (tokenizer.json)")
    for line in load_summary(info, network.base_model_prefix, labels):
        quiet.note(line)
    return network, tokenizer


def load_summary(info: dict, base_prefix: str, labels: list[str]) -> list[str]:
    """transformers' LOAD REPORT in plain lines: a new head is expected, the rest is said."""
    new = sorted({*info.get("missing_keys", ()), *(m[0] if isinstance(m, tuple) else m
                                                  for m in info.get("mismatched_keys", ()))})
    head = [k for k in new if not k.startswith(f"{base_prefix}.")]
    body = [k for k in new if k.startswith(f"{base_prefix}.")]
    unused = sorted(info.get("unexpected_keys", ()))
    lines = []
    if head:
        lines.append(f"new classification head: {len(labels)} labels ({', '.join(labels)}), "
                     f"randomly initialised ({', '.join(head)}); fine-tuning trains it")
    if body:
        lines.append(f"{len(body)} encoder weights are not in the checkpoint and start random: "
                     f"{', '.join(body[:5])}" + (" ..." if len(body) > 5 else ""))
    if unused:
        lines.append(f"{len(unused)} checkpoint weights are not used by the classifier (e.g. "
                     f"{', '.join(unused[:3])}): usual for a pre-training checkpoint")
    return lines


def class_weights(train_labels: list[int], n_labels: int) -> list[float]:
    """Inverse-frequency weights, normalised so a balanced set gets all 1.0."""
    counts = np.bincount(np.asarray(train_labels, dtype=np.int64), minlength=n_labels)
    counts = np.maximum(counts, 1)
    return (counts.sum() / (n_labels * counts)).astype(float).tolist()


def _no_decay(name: str) -> bool:
    return name.endswith("bias") or "norm" in name.lower()  # biases and LayerNorm weights


class SequenceClassifier(L.LightningModule):
    """Fine-tunes ``network`` with AdamW + linear warm-up/decay; logs ``val_macro_f1``."""

    def __init__(
        self,
        network: nn.Module,
        train_cfg: TrainConfig,
        labels: list[str],
        weights: list[float] | None = None,
    ):
        super().__init__()
        self.network = network.train()  # from_pretrained returns eval mode (dropout off)
        self.cfg = train_cfg
        self.labels = list(labels)
        weight = torch.tensor(weights, dtype=torch.float32) if weights else None
        self.loss_fn = nn.CrossEntropyLoss(weight=weight)
        self._confusion: torch.Tensor | None = None  # (L*L,) gold x predicted, this validation
        self.best_score: float | None = None  # best val macro-F1 so far (kept in checkpoints)
        self.best_report: dict | None = None

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        # input_ids, attention_mask: (B, T) -> logits (B, L)
        return self.network(input_ids=input_ids, attention_mask=attention_mask).logits

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        logits = self(batch["input_ids"], batch["attention_mask"])  # (B, L)
        loss = self.loss_fn(logits.float(), batch["labels"])
        self.log("train_loss", loss, prog_bar=True, batch_size=len(batch["labels"]))
        return loss

    def on_validation_epoch_start(self) -> None:
        n = len(self.labels)
        self._confusion = torch.zeros(n * n, dtype=torch.long, device=self.device)

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        logits = self(batch["input_ids"], batch["attention_mask"])  # (B, L)
        gold = batch["labels"]  # (B,)
        loss = nn.functional.cross_entropy(logits.float(), gold)
        self.log("val_loss", loss, batch_size=len(gold), sync_dist=True)
        pred = logits.argmax(dim=-1)  # (B,)
        n = len(self.labels)
        self._confusion += torch.bincount(gold * n + pred, minlength=n * n)

    def on_validation_epoch_end(self) -> None:
        n = len(self.labels)
        cm = self.trainer.strategy.reduce(self._confusion, reduce_op="sum")  # summed over ranks
        report = report_from_confusion(cm.view(n, n).cpu().numpy(), self.labels)
        # already over the whole split on every rank; sync_dist averages equal values (and
        # keeps checkpointing and early stopping reading the same figure on every rank)
        self.log("val_macro_f1", report["macro_f1"], prog_bar=True, sync_dist=True)
        self.log("val_accuracy", report["accuracy"], sync_dist=True)
        if not self.trainer.sanity_checking and (
            self.best_score is None or report["macro_f1"] > self.best_score
        ):
            self.best_score, self.best_report = report["macro_f1"], report

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["best_validation"] = {"score": self.best_score, "report": self.best_report}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        best = checkpoint.get("best_validation") or {}
        self.best_score, self.best_report = best.get("score"), best.get("report")

    def configure_optimizers(self):
        total = int(self.trainer.estimated_stepping_batches)
        fused = can_fuse(self.network, str(self.trainer.precision), self.cfg.strategy)
        optimizer, scheduler = build_optimizer(self.network, self.cfg, total, fused=fused)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None,
                                    gradient_clip_algorithm=None) -> None:
        """Clip by norm ourselves for a fused AdamW: Lightning's mixed-precision plugin refuses
        fused optimizers (they unscale fp16 gradients in step; bf16 has no scaler)."""
        if gradient_clip_val and optimizer.defaults.get("fused"):
            torch.nn.utils.clip_grad_norm_(self.network.parameters(), gradient_clip_val)
            return
        super().configure_gradient_clipping(optimizer, gradient_clip_val, gradient_clip_algorithm)


def can_fuse(network: nn.Module, precision: str, strategy: str = "auto") -> bool:
    """Fused AdamW (one kernel per parameter group, not ~10 per tensor: clip + step of MiniLM-L6
    110 -> 22 ms on one CPU thread): parameters on CPU or CUDA, no fp16 GradScaler, unsharded."""
    devices = {p.device.type for p in network.parameters()}
    sharded = "fsdp" in strategy or "deepspeed" in strategy
    return devices <= {"cpu", "cuda"} and precision not in ("16-mixed", "16") and not sharded


def build_optimizer(network: nn.Module, cfg: TrainConfig, total_steps: int, fused: bool = False):
    """AdamW (no decay on biases and norms; ``fused``: one kernel per group) + linear warm-up to
    ``cfg.lr``, then linear decay."""
    from transformers import get_linear_schedule_with_warmup

    params = [(n, p) for n, p in network.named_parameters() if p.requires_grad]
    groups = [
        {"params": [p for n, p in params if not _no_decay(n)], "weight_decay": cfg.weight_decay},
        {"params": [p for n, p in params if _no_decay(n)], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=cfg.lr, fused=fused or None)
    warmup = int(round(cfg.warmup_ratio * total_steps))
    return optimizer, get_linear_schedule_with_warmup(optimizer, warmup, max(total_steps, 1))


def report_from_confusion(cm: np.ndarray, labels: list[str]) -> dict:
    """The metrics report of a (L, L) confusion matrix (rows gold, columns predicted)."""
    gold, pred = np.nonzero(cm)
    counts = cm[gold, pred]
    return metrics.classification_report(np.repeat(gold, counts), np.repeat(pred, counts), labels)
