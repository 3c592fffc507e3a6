"""Micro-batching and hot swap: batches across requests, zero failures while the alias moves."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient

from mlops_dl.config import ServeConfig
from mlops_dl.serve.app import create_app
from mlops_dl.serve.batcher import PROBE, MicroBatcher, QueueFull
from mlops_dl.serve.swap import ModelHolder, is_pinned
from tests.unit.serve_helpers import fresh_registry, wait_until


class FakePredictor:
    """Probability of class 0 = len(text) / 100, so answers can be traced to their texts."""

    labels = ["a", "b"]
    version = 7

    def __init__(self, delay: float = 0.0):
        self.batches: list[int] = []
        self.delay = delay

    def predict_proba(self, texts):
        self.batches.append(len(texts))
        time.sleep(self.delay)
        p = np.array([len(t) / 100 for t in texts])
        return np.stack([p, 1 - p], axis=1)  # (N, 2)


def test_batcher_groups_concurrent_requests_and_keeps_order():
    fake = FakePredictor(delay=0.02)

    async def main():
        batcher = MicroBatcher(lambda: fake, max_batch_size=16, max_wait_ms=20, queue_limit=100)
        batcher.start()
        requests = [["x" * (i % 50)] * (1 + i % 3) for i in range(30)]
        answers = await asyncio.gather(*(batcher.submit(r) for r in requests))
        await batcher.close()
        return requests, answers

    requests, answers = asyncio.run(main())
    for texts, (probs, predictor) in zip(requests, answers):
        assert predictor is fake
        np.testing.assert_allclose(probs[:, 0], [len(t) / 100 for t in texts])
    assert sum(fake.batches) == sum(len(r) for r in requests)
    assert len(fake.batches) < len(requests) / 2  # requests were batched together
    assert max(fake.batches) <= 16 + 2  # full batches, a request is never split


class TokenFake(FakePredictor):
    """Tokens of a text = its length + 2; records each batch's texts."""

    def __init__(self, delay: float = 0.0):
        super().__init__(delay)
        self.texts: list[list[str]] = []
        self.counted: list[int] = []  # texts tokenized per submit

    def token_lengths(self, texts):
        self.counted.append(len(texts))
        return [len(t) + 2 for t in texts]

    def predict_proba(self, texts):
        self.texts.append(list(texts))
        return super().predict_proba(texts)


def test_batcher_fills_batches_to_the_token_budget():
    """Concurrent requests with a token budget: each answered with its own rows in order,
    batches of several requests within the budget, a larger request alone."""
    fake = TokenFake(delay=0.02)
    budget = 200

    async def main():
        batcher = MicroBatcher(lambda: fake, max_batch_size=2, max_wait_ms=20, queue_limit=500,
                               max_batch_tokens=budget, max_batch_texts=64)
        batcher.start()
        requests = [[f"{i}" + "x" * ((i * 7 + k) % 30) for k in range(1 + i % 3)]
                    for i in range(40)]
        requests.append(["y" * 60] * 5)  # 5 x 62 tokens: over the budget, runs alone
        requests.append([f"z{k}" for k in range(40)])  # 40 x 5 tokens: just within it
        answers = await asyncio.gather(*(batcher.submit(r) for r in requests))
        await batcher.close()
        return requests, answers

    requests, answers = asyncio.run(main())
    for texts, (probs, predictor) in zip(requests, answers):
        assert predictor is fake and probs.shape == (len(texts), 2)
        np.testing.assert_allclose(probs[:, 0], [len(t) / 100 for t in texts])
    assert sorted(t for b in fake.texts for t in b) == sorted(t for r in requests for t in r)
    assert len(fake.texts) < len(requests) / 2  # requests were batched together
    assert max(len(b) for b in fake.texts) > 2  # the token budget, not max_batch_size
    assert ["y" * 60] * 5 in fake.texts  # the large request alone
    assert max(fake.counted) == PROBE  # only a request's longest few texts are tokenized
    for b in fake.texts:
        if b != ["y" * 60] * 5:
            assert len(b) * max(len(t) + 2 for t in b) <= budget


def test_batcher_queue_limit_and_failing_model():
    class Broken(FakePredictor):
        def predict_proba(self, texts):
            raise RuntimeError("model exploded")

    async def main():
        batcher = MicroBatcher(lambda: Broken(), max_batch_size=4, max_wait_ms=1, queue_limit=5)
        batcher.start()
        with pytest.raises(QueueFull):
            await batcher.submit(["a"] * 6)
        with pytest.raises(RuntimeError, match="exploded"):
            await batcher.submit(["a"])
        assert batcher.depth == 0
        await batcher.close()

    asyncio.run(main())


def test_holder_keeps_serving_when_new_version_fails():
    served = {"v": 1}

    def load(v):
        if v == 2:
            raise RuntimeError("checksum mismatch")
        p = FakePredictor()
        p.version = v
        return p

    holder = ModelHolder("m@prod", lambda: served["v"], load, retry_after_s=60)
    assert holder.check() is False and holder.current().version == 1
    served["v"] = 2
    assert holder.check() is False
    assert holder.current().version == 1 and "checksum mismatch" in holder.last_error
    served["v"] = 3
    assert holder.check() is True and holder.current().version == 3 and holder.swaps == 1
    assert is_pinned("m:3") and not is_pinned("m@prod") and not is_pinned("m")


def test_hot_swap_under_concurrent_requests_has_zero_failures(tiny_registry, tmp_path):
    reg = fresh_registry(tiny_registry, tmp_path / "registry", versions=3)
    cfg = ServeConfig(log_path=str(tmp_path / "pred.jsonl"), swap_poll_s=0.05, max_wait_ms=2)
    results: list[tuple[int, int | None, int]] = []  # (thread, version, status)
    stop = threading.Event()

    with TestClient(create_app(cfg, "tiny@production", registry=str(reg.root))) as client:
        wait_until(lambda: client.get("/readyz").status_code == 200, what="ready")

        def hammer(k: int):
            while not stop.is_set():
                r = client.post("/v1/predict", json={"texts": [f"love great {k}", "hate"]})
                results.append((k, r.json().get("version"), r.status_code))

        threads = [threading.Thread(target=hammer, args=(k,)) for k in range(6)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        reg.promote("tiny:2", "production")
        wait_until(lambda: client.get("/readyz").json()["model"]["version"] == 2, what="swap")
        time.sleep(0.3)
        # a version that fails verification is refused; v2 keeps serving
        broken = reg.get("tiny:3").path / "model.int8.onnx"
        broken.chmod(0o644)
        broken.write_bytes(b"corrupt")
        _force_alias(reg, 3)
        wait_until(lambda: client.get("/readyz").json()["last_error"], what="refusal")
        time.sleep(0.3)
        stop.set()
        for t in threads:
            t.join()
        ready = client.get("/readyz").json()
        metrics = client.get("/metrics").text

    assert results and all(status == 200 for _, _, status in results), \
        {s for _, _, s in results}
    assert {v for _, v, _ in results} == {1, 2}
    for k in range(6):  # per client, versions only move forward
        seen = [v for kk, v, _ in results if kk == k]
        assert seen == sorted(seen)
    assert ready["model"]["version"] == 2 and ready["swaps"] == 1
    assert "version 3" in ready["last_error"]
    assert "mlops_dl_model_swaps_total 1.0" in metrics
    assert 'version="2"} 1.0' in metrics and 'version="1"} 1.0' not in metrics


def _force_alias(reg, version: int) -> None:
    """Point the alias at a version that no longer verifies (promote itself would refuse)."""
    (reg.root / "tiny" / "aliases" / "production").write_text(f"{version}\n")
