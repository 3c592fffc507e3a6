"""Dynamic micro-batching: texts of concurrent requests are run together in one worker thread.

A request's texts always stay in one batch, so one request is answered by one model version.
With a token budget (``serve.max_batch_tokens``) a batch holds as many requests as fit that many
padded tokens (texts x longest text) and at most ``max_batch_texts`` texts; a larger request
runs alone. A request's longest text is found at submit by tokenizing its ``PROBE`` longest
texts (by characters) with the current predictor's tokenizer: one small Rust call, whatever the
request's size. Without a budget, up to ``max_batch_size`` texts. The event loop only counts,
queues and wakes; inference (which plans its batches on every text's tokens) runs in the
``infer`` thread. ``queue_limit`` counts texts.
"""

from __future__ import annotations

import asyncio
import heapq
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from mlops_dl.runtime import Predictor

PROBE = 4  # a request's longest texts (characters) tokenized to find its longest in tokens


class QueueFull(Exception):
    """More texts are waiting than ``queue_limit`` allows (the server answers 429)."""


@dataclass
class _Item:
    texts: list[str]
    future: asyncio.Future = field(repr=False)
    longest: int = 0  # tokens of its longest text (0 without a token budget)


class MicroBatcher:
    """Collect requests for up to ``max_wait_ms`` or a full batch (tokens or texts), then run."""

    def __init__(self, get_predictor: Callable[[], Predictor], max_batch_size: int = 32,
                 max_wait_ms: float = 5.0, queue_limit: int = 1024,
                 on_batch: Callable[[int], None] | None = None, max_batch_tokens: int = 0,
                 max_batch_texts: int = 256):
        self.get_predictor = get_predictor
        self.max_batch_tokens = max(0, max_batch_tokens)  # 0: batches of max_batch_size texts
        self.max_texts = max(1, max_batch_texts if self.max_batch_tokens else max_batch_size)
        self.max_wait_s = max(0.0, max_wait_ms) / 1000
        self.queue_limit = queue_limit
        self.on_batch = on_batch  # called with each batch's text count (metrics)
        self.depth = 0  # texts waiting, not yet running
        self._pending: deque[_Item] = deque()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._closing = False
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="infer")

    def start(self) -> None:
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="micro-batcher")

    async def submit(self, texts: list[str]) -> tuple[np.ndarray, Predictor]:
        """Probabilities for ``texts`` # (N, L), and the predictor that produced them."""
        if self._closing or self._task is None:
            raise RuntimeError("the batcher is not running")
        if self.depth + len(texts) > self.queue_limit:
            raise QueueFull(f"{self.depth} texts already queued (serve.queue_limit="
                            f"{self.queue_limit})")
        item = _Item(texts, asyncio.get_running_loop().create_future(), self._longest(texts))
        self._pending.append(item)
        self.depth += len(texts)
        self._wake.set()
        return await item.future

    def _longest(self, texts: list[str]) -> int:
        """Tokens of the longest text, by the current predictor's tokenizer (0: no budget)."""
        if not self.max_batch_tokens or not texts:
            return 0
        return max(self.get_predictor().token_lengths(heapq.nlargest(PROBE, texts, key=len)))

    def _fits(self, texts: int, longest: int) -> bool:
        """Whether ``texts`` texts padded to ``longest`` tokens fit one batch."""
        return texts <= self.max_texts and (
            not self.max_batch_tokens or texts * longest <= self.max_batch_tokens)

    async def close(self) -> None:
        """Answer what is queued, then stop the loop and the worker thread."""
        self._closing = True
        if self._task is not None:
            self._wake.set()
            await self._task
        self._executor.shutdown(wait=True)

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._pending:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            await self._fill_window(loop)
            batch = self._take()
            texts = [t for item in batch for t in item.texts]
            predictor = self.get_predictor()
            try:
                probs = await loop.run_in_executor(self._executor, predictor.predict_proba, texts)
            except Exception as e:  # a broken model must fail the batch, not the server
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(e)
                continue
            if self.on_batch is not None:
                self.on_batch(len(texts))
            start = 0
            for item in batch:
                end = start + len(item.texts)
                if not item.future.done():  # the client may have gone away
                    item.future.set_result((probs[start:end], predictor))
                start = end

    async def _fill_window(self, loop: asyncio.AbstractEventLoop) -> None:
        """Wait up to max_wait for more texts, unless a full batch is already queued."""
        deadline = loop.time() + self.max_wait_s
        while not self._closing and self._fits(
                self.depth + 1, max((i.longest for i in self._pending), default=0)):
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), remaining)
            except asyncio.TimeoutError:
                return

    def _take(self) -> list[_Item]:
        """FIFO items while they fit one batch (always at least one item)."""
        batch, count, longest = [], 0, 0
        while self._pending:
            item = self._pending[0]
            if batch and not self._fits(count + len(item.texts), max(longest, item.longest)):
                break
            batch.append(self._pending.popleft())
            count, longest = count + len(item.texts), max(longest, item.longest)
        self.depth -= count
        return batch
