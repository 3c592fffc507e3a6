"""The LightningDataModule over a prepared dataset: tokenise once, pad per batch, group by length.

Token ids are cached next to the prepared data (``<data_dir>/cache/<split>-<key>.npz``, plain
numpy, no pickle); the key hashes the tokenizer, ``max_length`` and the split's fingerprint, so
a new tokenizer or re-prepared data never reads stale ids.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from mlops_dl import files
from mlops_dl.config import TrainConfig
from mlops_dl.data.prepared import PreparedData, fingerprint

log = logging.getLogger(__name__)


class TokenizedSplit(Dataset):
    """One split as token-id arrays (no padding) and label ids."""

    def __init__(self, ids: np.ndarray, offsets: np.ndarray, labels: np.ndarray):
        self.ids, self.offsets, self.labels = ids, offsets, labels  # (N_tok,), (N+1,), (N,)
        self.lengths = np.diff(offsets)  # (N,)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        return self.ids[self.offsets[i] : self.offsets[i + 1]], int(self.labels[i])


def tokenize_split(
    tokenizer, texts: list[str], labels: list[int], max_length: int
) -> TokenizedSplit:
    encoded = tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
    lengths = np.fromiter((len(x) for x in encoded), dtype=np.int64, count=len(encoded))
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    ids = np.fromiter((t for seq in encoded for t in seq), dtype=np.int32, count=int(offsets[-1]))
    return TokenizedSplit(ids, offsets, np.asarray(labels, dtype=np.int64))


def cache_key(tokenizer, max_length: int, split_fingerprint: str) -> str:
    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    spec.pop("truncation", None), spec.pop("padding", None)  # call-time state, not the tokenizer
    h = hashlib.sha256(json.dumps(spec, sort_keys=True).encode("utf-8"))
    h.update(f"|{max_length}|{split_fingerprint}".encode())
    return h.hexdigest()[:16]


def load_tokenized(data: PreparedData, split: str, tokenizer, max_length: int) -> TokenizedSplit:
    """Token ids of one split, from the cache when the key matches, else tokenised and cached."""
    frame = data.frame(split)
    fp = data.fingerprints.get(split) or fingerprint(frame)
    path = data.root / "cache" / f"{split}-{cache_key(tokenizer, max_length, fp)}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            return TokenizedSplit(z["ids"], z["offsets"], z["labels"])
    texts, labels = frame["text"].tolist(), [int(x) for x in frame["label"]]
    tokenized = tokenize_split(tokenizer, texts, labels, max_length)
    _save_npz(path, ids=tokenized.ids, offsets=tokenized.offsets, labels=tokenized.labels)
    return tokenized


def _save_npz(path: Path, **arrays: np.ndarray) -> None:
    """Atomic write; a read-only data dir only costs re-tokenising next time."""
    try:
        files.write_with(path, lambda tmp: np.savez(tmp, **arrays), ".npz")
    except OSError as e:
        log.warning("could not cache token ids at %s: %s", path, e)


class PadCollator:
    """Pads a list of (ids, label) to the longest in the batch, or to ``fixed_length``."""

    def __init__(self, pad_id: int, fixed_length: int | None = None):
        self.pad_id, self.fixed_length = pad_id, fixed_length

    def __call__(self, items: list[tuple[np.ndarray, int]]) -> dict[str, torch.Tensor]:
        width = self.fixed_length or max(len(ids) for ids, _ in items)
        input_ids = torch.full((len(items), width), self.pad_id, dtype=torch.long)  # (B, T)
        attention_mask = torch.zeros((len(items), width), dtype=torch.long)  # (B, T)
        for row, (ids, _) in enumerate(items):
            input_ids[row, : len(ids)] = torch.from_numpy(ids.astype(np.int64))
            attention_mask[row, : len(ids)] = 1
        labels = torch.tensor([label for _, label in items], dtype=torch.long)  # (B,)
        return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


class EpochShuffle(Sampler[int]):
    """Indices 0..n-1, reshuffled per epoch from (seed, epoch); Lightning calls ``set_epoch``."""

    def __init__(self, n: int, seed: int, shuffle: bool = True):
        self.n, self.seed, self.shuffle, self.epoch = n, seed, shuffle, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def rng(self) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch])

    def __iter__(self):
        order = self.rng().permutation(self.n) if self.shuffle else np.arange(self.n)
        return iter(order.tolist())

    def __len__(self) -> int:
        return self.n


class LengthGroupedBatchSampler(Sampler[list[int]]):
    """Batches of similar-length examples, sharded over ``num_replicas`` ranks.

    1. take the sampler's (shuffled) order; 2. sort by length within buckets of
    ``bucket_batches`` batches; 3. cut into batches; 4. shuffle the batch order (training);
    5. keep this rank's share. ``skip`` drops the first batches once (mid-epoch resume).
    """

    def __init__(self, sampler: EpochShuffle, lengths: np.ndarray, batch_size: int,
                 bucket_batches: int = 50, group: bool = True, num_replicas: int = 1,
                 rank: int = 0, even: bool = True, skip: int = 0):  # fmt: skip
        self.sampler, self.lengths, self.batch_size = sampler, lengths, batch_size
        self.bucket = batch_size * max(bucket_batches, 1) if bucket_batches > 0 else len(lengths)
        self.group, self.num_replicas, self.rank = group, num_replicas, rank
        self.even, self.skip = even, skip

    def batches(self) -> list[list[int]]:
        order = np.fromiter(iter(self.sampler), dtype=np.int64, count=len(self.sampler))
        if self.group:
            chunks = [order[i : i + self.bucket] for i in range(0, len(order), self.bucket)]
            order = np.concatenate([c[np.argsort(-self.lengths[c], kind="stable")] for c in chunks])
        size = self.batch_size
        batches = [order[i : i + size].tolist() for i in range(0, len(order), size)]
        if self.group and self.sampler.shuffle:
            batches = [batches[i] for i in self.sampler.rng().permutation(len(batches))]
        if self.even:  # every rank gets the same number of batches (DDP would hang otherwise)
            batches = batches[: len(batches) - len(batches) % self.num_replicas]
        return batches[self.rank :: self.num_replicas]

    def __iter__(self):
        skip, self.skip = self.skip, 0
        yield from self.batches()[skip:]

    def __len__(self) -> int:  # the full epoch, also when resuming (Lightning counts from there)
        n_batches = -(-len(self.sampler) // self.batch_size)
        if self.even:
            return n_batches // self.num_replicas
        return len(range(self.rank, n_batches, self.num_replicas))


class TextDataModule(L.LightningDataModule):
    """Train/validation/test loaders over a prepared dataset for one tokenizer."""

    def __init__(self, data: PreparedData, tokenizer, max_length: int, cfg: TrainConfig):
        super().__init__()
        self.data, self.tokenizer, self.max_length, self.cfg = data, tokenizer, max_length, cfg
        fixed = None if cfg.dynamic_padding else max_length
        self.collate = PadCollator(tokenizer.pad_token_id or 0, fixed_length=fixed)
        self.splits: dict[str, TokenizedSplit] = {}

    def setup(self, stage: str | None = None) -> None:
        wanted = {"fit": ("train", "validation"), "validate": ("validation",), "test": ("test",)}
        for split in wanted.get(stage or "", ("train", "validation", "test")):
            if split not in self.splits:
                self.splits[split] = load_tokenized(self.data, split, self.tokenizer, self.max_length)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", self.cfg.batch_size, shuffle=True, skip=self._resume_skip())

    def val_dataloader(self) -> DataLoader:
        return self._loader("validation", self.cfg.eval_batch_size, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", self.cfg.eval_batch_size, shuffle=False)

    def _loader(self, split: str, batch_size: int, shuffle: bool, skip: int = 0) -> DataLoader:
        ds = self.splits[split]
        world, rank = self._world()
        if not shuffle:  # evaluation: smaller batches so that every rank gets one (len > 0)
            batch_size = max(1, min(batch_size, -(-len(ds) // world)))
        batches = LengthGroupedBatchSampler(
            EpochShuffle(len(ds), self.cfg.seed, shuffle=shuffle), ds.lengths, batch_size,
            bucket_batches=self.cfg.length_bucket_batches if shuffle else 0,  # eval: sort all
            group=self.cfg.group_by_length, num_replicas=world, rank=rank, even=shuffle, skip=skip,
        )  # fmt: skip
        return DataLoader(ds, batch_sampler=batches, collate_fn=self.collate,
                          num_workers=self.cfg.num_workers,
                          persistent_workers=self.cfg.num_workers > 0)  # fmt: skip

    def _world(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)

    def _resume_skip(self) -> int:
        """Batches of the current epoch already trained on, when resuming mid-epoch."""
        trainer = self.trainer
        if trainer is None or not trainer.fit_loop.restarting:
            return 0
        done = trainer.fit_loop.epoch_loop.batch_progress.current.processed
        per_rank = -(-len(self.splits["train"]) // self.cfg.batch_size) // trainer.world_size
        return done if 0 < done < per_rank else 0  # a finished epoch: Lightning starts the next
