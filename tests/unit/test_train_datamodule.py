"""The data side of training: token cache, dynamic padding, length-grouped and sharded batches."""

from __future__ import annotations

import numpy as np
import pytest
from transformers import AutoTokenizer

from mlops_dl.config import TrainConfig
from mlops_dl.data.prepared import load_prepared
from mlops_dl.train.datamodule import (
    EpochShuffle,
    LengthGroupedBatchSampler,
    PadCollator,
    TextDataModule,
    load_tokenized,
)
from tests.fixtures.tiny_train import write_fixture_prepared


@pytest.fixture()
def prepared(tmp_path, tiny_rows):
    return load_prepared(write_fixture_prepared(tmp_path, tiny_rows))


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return AutoTokenizer.from_pretrained(tiny_model_dir)


def test_tokenised_once_then_read_from_the_cache(prepared, tokenizer, monkeypatch):
    first = load_tokenized(prepared, "train", tokenizer, max_length=16)
    cached = list((prepared.root / "cache").glob("train-*.npz"))
    assert len(cached) == 1
    monkeypatch.setattr(tokenizer.__class__, "__call__", lambda *a, **k: pytest.fail("re-tokenised"))
    again = load_tokenized(prepared, "train", tokenizer, max_length=16)
    assert np.array_equal(first.ids, again.ids) and np.array_equal(first.labels, again.labels)


def test_cache_key_changes_with_max_length(prepared, tokenizer):
    a = load_tokenized(prepared, "validation", tokenizer, max_length=16)
    b = load_tokenized(prepared, "validation", tokenizer, max_length=6)
    assert len(list((prepared.root / "cache").glob("validation-*.npz"))) == 2
    assert a.lengths.max() > 6 and b.lengths.max() == 6


def test_dynamic_padding_pads_to_longest_in_batch():
    items = [(np.array([5, 6, 7]), 0), (np.array([5]), 2)]
    batch = PadCollator(pad_id=0)(items)
    assert batch["input_ids"].tolist() == [[5, 6, 7], [5, 0, 0]]  # (B, T) = (2, 3)
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [0, 2]
    assert PadCollator(pad_id=0, fixed_length=8)(items)["input_ids"].shape == (2, 8)


def _lengths(n: int = 1000, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(3, 120, size=n)


def test_length_grouping_covers_every_example_once_with_tight_batches():
    lengths = _lengths()
    sampler = LengthGroupedBatchSampler(EpochShuffle(len(lengths), seed=1), lengths, 32, bucket_batches=5)
    batches = list(sampler)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(len(lengths))) and len(batches) == len(sampler)
    waste = lambda bs: sum(len(b) * lengths[b].max() - lengths[b].sum() for b in bs)  # noqa: E731
    plain = LengthGroupedBatchSampler(EpochShuffle(len(lengths), seed=1), lengths, 32, group=False)
    assert waste(batches) < 0.25 * waste(list(plain))  # far less padding than random batches


def test_batch_order_is_shuffled_and_changes_per_epoch():
    lengths = _lengths()
    shuffle = EpochShuffle(len(lengths), seed=1)
    sampler = LengthGroupedBatchSampler(shuffle, lengths, 32, bucket_batches=5)
    epoch0 = list(sampler)
    firsts = [lengths[b].max() for b in epoch0]
    assert firsts != sorted(firsts, reverse=True)  # not one long-to-short sweep
    shuffle.set_epoch(1)
    assert list(sampler) != epoch0
    shuffle.set_epoch(0)
    assert list(sampler) == epoch0  # (seed, epoch) fixes the order: resumable


def test_shards_are_disjoint_and_even():
    lengths = _lengths(1001)
    shards = [list(LengthGroupedBatchSampler(EpochShuffle(1001, seed=3), lengths, 32,
                                              num_replicas=3, rank=r)) for r in range(3)]  # fmt: skip
    assert len({len(s) for s in shards}) == 1
    seen = [i for s in shards for b in s for i in b]
    assert len(seen) == len(set(seen))


def test_skip_resumes_mid_epoch_once():
    lengths = _lengths()
    full = list(LengthGroupedBatchSampler(EpochShuffle(1000, seed=2), lengths, 32))
    resumed = LengthGroupedBatchSampler(EpochShuffle(1000, seed=2), lengths, 32, skip=7)
    assert list(resumed) == full[7:] and len(resumed) == len(full)
    assert list(resumed) == full  # the next epoch starts from the beginning


def test_datamodule_loaders(prepared, tokenizer):
    cfg = TrainConfig(batch_size=8, eval_batch_size=16, length_bucket_batches=2)
    dm = TextDataModule(prepared, tokenizer, max_length=16, cfg=cfg)
    dm.setup("fit")
    train = list(dm.train_dataloader())
    assert sum(len(b["labels"]) for b in train) == len(prepared.frame("train"))
    val = list(dm.val_dataloader())
    widths = [b["input_ids"].shape[1] for b in val]
    assert widths == sorted(widths, reverse=True)  # evaluation: sorted by length, no shuffling
    fixed = TextDataModule(prepared, tokenizer, 16, TrainConfig(batch_size=8, dynamic_padding=False))
    fixed.setup("fit")
    assert {b["input_ids"].shape[1] for b in fixed.train_dataloader()} == {16}
