"""Training throughput on real data: plain PyTorch loop vs our Lightning path, precisions, padding.

Every variant trains the same network (same initial weights) on the same train examples for
``warmup + steps`` optimizer steps; only the ``steps`` after warm-up are timed. Variants run
interleaved ``repeats`` times and the fastest repeat is reported (the least disturbed by other
load on a shared machine); every repeat's seconds are kept in ``runs_s``.
"""

from __future__ import annotations

import copy
import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from lightning.pytorch.callbacks import Callback

from mlops_dl import config as config_mod
from mlops_dl import metrics
from mlops_dl.config import Config
from mlops_dl.data.prepared import load_prepared, output_path
from mlops_dl.train.datamodule import EpochShuffle, LengthGroupedBatchSampler, PadCollator, load_tokenized
from mlops_dl.train.model import SequenceClassifier, build_optimizer, can_fuse, load_network

# name -> (engine, precision, dynamic padding, length grouping)
VARIANTS = {
    "pytorch_fp32_dynamic_grouped": ("pytorch", "32-true", True, True),
    "lightning_fp32_dynamic_grouped": ("lightning", "32-true", True, True),
    "lightning_bf16_dynamic_grouped": ("lightning", "bf16-mixed", True, True),
    "lightning_fp32_dynamic_random": ("lightning", "32-true", True, False),
    "lightning_fp32_pad128_random": ("lightning", "32-true", False, False),
}


class StepTimer(Callback):
    """Wall time from the first batch after ``warmup`` steps to the end of the last one."""

    def __init__(self, warmup: int):
        self.warmup, self.start, self.end, self.tokens = warmup, None, None, 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.warmup and self.start is None:
            self.start = time.perf_counter()
        if self.start is not None:
            self.tokens += int(batch["attention_mask"].sum())

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.end = time.perf_counter()


def run_bench(cfg: Config, steps: int = 12, warmup: int = 3, batch_size: int = 32, repeats: int = 2,
              f1_model: Path | None = None, variants: list[str] | None = None) -> dict:  # fmt: skip
    """samples/s per variant, the ratios the report quotes, and optionally fp32-vs-bf16 macro-F1."""
    data = load_prepared(output_path(cfg))
    if cfg.train.num_threads > 0:
        torch.set_num_threads(cfg.train.num_threads)
    network, tokenizer = load_network(cfg.model, data.labels)
    initial = copy.deepcopy(network.state_dict())
    train = load_tokenized(data, "train", tokenizer, cfg.model.max_length)
    n = (warmup + steps) * batch_size
    if len(train) < n:
        raise ValueError(f"bench needs {n} train examples, {data.root} has {len(train)}")
    subset = np.random.default_rng(cfg.train.seed).permutation(len(train))[:n]
    unknown = set(variants or ()) - set(VARIANTS)
    if unknown:
        raise ValueError(f"unknown variant(s) {sorted(unknown)}; choose from {list(VARIANTS)}")
    chosen = {k: v for k, v in VARIANTS.items() if variants is None or k in variants}
    timings: dict[str, list[tuple[float, int]]] = {name: [] for name in chosen}
    for _ in range(repeats):
        for name, (engine, precision, dynamic, grouped) in chosen.items():
            network.load_state_dict(initial)
            loader = _loader(train, subset, tokenizer, cfg, batch_size, dynamic, grouped)
            tc = config_mod.replace(cfg, {"train.precision": precision, "train.batch_size": batch_size}).train
            run = _time_pytorch if engine == "pytorch" else _time_lightning
            timings[name].append(run(network, loader, tc, data.labels, warmup, steps))
    variants = {}
    for name, runs in timings.items():
        secs, toks = min(runs)  # the fastest repeat
        variants[name] = {"samples_per_s": steps * batch_size / secs, "tokens_per_s": toks / secs,
                          "s_per_step": secs / steps, "runs_s": [round(t, 3) for t, _ in runs]}  # fmt: skip
    result = {"device": _device(), "steps": steps, "warmup": warmup, "batch_size": batch_size,
              "repeats": repeats, "data": str(data.root), "model": cfg.model.name,
              "variants": variants, "ratios": _ratios(variants)}  # fmt: skip
    if f1_model is not None:
        result["bf16_f1"] = bf16_f1_check(Path(f1_model), data, cfg.model.max_length)
    return result


RATIOS = {  # name -> (numerator variant, denominator variant)
    "lightning_speed_vs_pytorch": ("lightning_fp32_dynamic_grouped", "pytorch_fp32_dynamic_grouped"),
    "bf16_speedup_vs_fp32": ("lightning_bf16_dynamic_grouped", "lightning_fp32_dynamic_grouped"),
    "dynamic_grouped_vs_pad128": ("lightning_fp32_dynamic_grouped", "lightning_fp32_pad128_random"),
    "dynamic_random_vs_pad128": ("lightning_fp32_dynamic_random", "lightning_fp32_pad128_random"),
}


def _ratios(v: dict) -> dict:
    """samples/s ratios among the measured variants; overhead = time(Lightning)/time(PyTorch) - 1."""
    s = {k: x["samples_per_s"] for k, x in v.items()}
    out = {name: s[a] / s[b] for name, (a, b) in RATIOS.items() if a in s and b in s}
    if "lightning_speed_vs_pytorch" in out:
        out["lightning_overhead_pct"] = 100 * (1 / out["lightning_speed_vs_pytorch"] - 1)
    return out


def _loader(train, subset, tokenizer, cfg: Config, batch_size: int, dynamic: bool, grouped: bool):
    from torch.utils.data import DataLoader, Subset

    lengths = train.lengths[subset]
    sampler = EpochShuffle(len(subset), cfg.train.seed, shuffle=True)
    batches = LengthGroupedBatchSampler(sampler, lengths, batch_size,
                                        bucket_batches=cfg.train.length_bucket_batches, group=grouped)  # fmt: skip
    collate = PadCollator(tokenizer.pad_token_id or 0, None if dynamic else cfg.model.max_length)
    return DataLoader(Subset(train, subset.tolist()), batch_sampler=batches, collate_fn=collate)


def _time_pytorch(network, loader, tc, labels, warmup: int, steps: int) -> tuple[float, int]:
    """The same optimisation as the Lightning path, written as a bare loop."""
    network.train()
    optimizer, scheduler = build_optimizer(network, tc, warmup + steps,
                                           fused=can_fuse(network, tc.precision, tc.strategy))
    params = [p for p in network.parameters() if p.requires_grad]
    start, tokens = None, 0
    for step, batch in enumerate(loader):
        if step == warmup:
            start = time.perf_counter()
        if start is not None:
            tokens += int(batch["attention_mask"].sum())
        logits = network(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits  # (B, L)
        loss = torch.nn.functional.cross_entropy(logits.float(), batch["labels"])
        loss.backward()
        if tc.grad_clip:
            torch.nn.utils.clip_grad_norm_(params, tc.grad_clip)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - start, tokens


def _time_lightning(network, loader, tc, labels, warmup: int, steps: int) -> tuple[float, int]:
    """Our Lightning path (build_trainer: loggers, progress, clipping) minus checkpoint writes."""
    from mlops_dl.train.fitting import build_trainer

    tc = dataclasses.replace(tc, max_steps=warmup + steps, limit_val_batches=0.0, checkpoint_every_n_steps=0,
                      early_stopping_patience=0, progress_bar=False, accelerator="cpu", devices=1)  # fmt: skip
    timer = StepTimer(warmup)
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        trainer = build_trainer(tc, Path(tmp), callbacks=[timer])
        trainer.fit(SequenceClassifier(network, tc, labels), train_dataloaders=loader)
    return timer.end - timer.start, timer.tokens


def bf16_f1_check(model_dir: Path, data, max_length: int) -> dict:
    """Validation macro-F1 of a fine-tuned model in fp32 and under bf16 autocast."""
    from mlops_dl.train.evaluate import predict_labels

    texts, gold = data.texts_labels("validation")
    out = {}
    for name, bf16 in (("fp32", False), ("bf16", True)):
        t0 = time.perf_counter()
        pred = predict_labels(model_dir, texts, data.labels, max_length, bf16=bf16)
        out[name] = {"macro_f1": metrics.macro_f1(gold, pred, len(data.labels)),
                     "seconds": round(time.perf_counter() - t0, 2)}  # fmt: skip
    out["delta_points"] = 100 * (out["bf16"]["macro_f1"] - out["fp32"]["macro_f1"])
    return out


def _device() -> str:
    from mlops_dl.train.rundir import environment

    env = environment()
    gpus = env["gpus"]
    return ", ".join(gpus) if gpus else f"CPU {env['cpu']} x{env['cpu_count']} ({env['torch_threads']} threads)"
