"""Token-budget batch plans: the budget and the cap hold, every text runs once, and the
Predictor's labels and probabilities do not depend on the plan (input order kept)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from mlops_dl.config import ServeConfig
from mlops_dl.runtime import from_dir
from mlops_dl.runtime.batching import padded_tokens, plan_batches, plan_windows


def random_lengths(n: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    return [rng.choice([2, 3, 5, 8, 13, 28, 40, 64, 128, 300]) for _ in range(n)]


@pytest.mark.parametrize("budget,cap", [(64, 256), (256, 8), (4096, 256), (100, 1), (1, 50)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_plan_respects_budget_and_cap_and_covers_every_index_once(budget, cap, seed):
    lengths = random_lengths(200, seed)
    batches = plan_batches(lengths, budget, cap)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(lengths)))  # every index exactly once
    assert [lengths[i] for i in flat] == sorted(lengths)  # shortest first, across batches too
    for b in batches:
        assert 1 <= len(b) <= cap
        assert len(b) == 1 or padded_tokens(lengths, b) <= budget  # over budget: alone
    for a, b in zip(batches, batches[1:]):  # greedy: the next text would not have fitted
        grown = a + [b[0]]
        assert len(grown) > cap or padded_tokens(lengths, grown) > budget


def test_a_text_longer_than_the_budget_is_its_own_batch():
    lengths = [4, 4, 500, 4, 70, 4]
    batches = plan_batches(lengths, 64, 256)
    assert [2] in batches and [4] in batches
    assert batches[0] == [0, 1, 3, 5]  # ties keep input order
    assert plan_batches([], 64, 8) == [] and plan_batches([9], 1, 1) == [[0]]


def test_budget_zero_is_the_fixed_plan():
    lengths = random_lengths(70, 3)
    order = sorted(range(70), key=lambda i: lengths[i])
    assert plan_batches(lengths, 0, 32) == [order[:32], order[32:64], order[64:]]


def test_windows_plan_within_each_window():
    lengths = random_lengths(50, 4)
    batches = plan_windows(lengths, 16, 128, 256)
    assert sorted(i for b in batches for i in b) == list(range(50))
    assert all(len({i // 16 for i in b}) == 1 for b in batches)  # no batch spans two windows
    assert plan_windows(lengths, 0, 128, 256) == plan_batches(lengths, 128, 256)


@pytest.fixture(scope="module")
def version_dir(tiny_registry):
    from mlops_dl.registry import open_registry

    return open_registry(tiny_registry).get("tiny:1").path


@pytest.fixture(scope="module")
def texts(tiny_rows):
    rng = random.Random(5)
    out = [t for t, _ in tiny_rows[:90]]
    out += [" ".join([t] * rng.randint(2, 6)) for t, _ in tiny_rows[90:120]]  # some truncated
    out += ["", "ok", "love"]
    rng.shuffle(out)
    return out


@pytest.mark.parametrize("variant", ["fp32", "int8"])  # int8: the batch-invariant servable
def test_token_batches_give_the_fixed_plans_answers_in_input_order(version_dir, texts, variant):
    fixed = from_dir(version_dir, provider="cpu", variant=variant,
                     settings=ServeConfig(max_batch_tokens=0, max_batch_size=32))
    assert fixed.servable.batch_invariant
    want = fixed.predict_proba(texts)  # (N, L)
    lengths = fixed.token_lengths(texts)
    for budget in (48, 200, 4096):
        pred = from_dir(version_dir, provider="cpu", variant=variant,
                        settings=ServeConfig(max_batch_tokens=budget))
        assert pred.plan(lengths) != fixed.plan(lengths)  # other batches, same answers
        got = pred.predict_proba(texts)  # (N, L)
        np.testing.assert_allclose(got, want, atol=1e-5)
        assert (got.argmax(axis=1) == want.argmax(axis=1)).all()
    reversed_ = pred.predict_proba(texts[::-1])[::-1]  # (N, L) back in input order
    np.testing.assert_allclose(reversed_, want, atol=1e-5)


def test_predictor_plan_overrides(version_dir):
    pred = from_dir(version_dir, provider="cpu", variant="fp32",
                    settings=ServeConfig(max_batch_tokens=64, max_batch_texts=4))
    lengths = [10] * 20
    assert all(len(b) == 4 for b in pred.plan(lengths))  # the cap with a budget
    assert [len(b) for b in pred.plan(lengths, max_tokens=100)] == [4] * 5
    assert pred.plan(lengths, batch_size=20, max_tokens=0) == [list(range(20))]  # one batch
    assert pred.describe()["max_batch_tokens"] == 64
