"""Progress lines for slow loops: "what: n of N (s elapsed, ETA)", at most one every few seconds.

Export (PyTorch reference, each variant's check) and training's plain log lines use it, so a
step that takes minutes says what it is doing. Imports nothing of ours.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def eta_text(seconds: float) -> str:
    """``1h02m``, ``3m12s`` or ``45s``."""
    seconds = max(int(round(seconds)), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def remaining_s(done: int, total: int, elapsed_s: float) -> float | None:
    """Seconds left at the rate so far (None before the first item or with no total)."""
    if done <= 0 or total <= 0 or elapsed_s <= 0:
        return None
    return (total - done) * elapsed_s / done


class Counter:
    """``counter(done)`` after each item: logs ``what: done of total`` with the ETA when
    ``every_s`` passed since the last line, and a closing line when the loop took that long."""

    def __init__(self, log: Callable[[str], None], what: str, total: int, every_s: float = 5.0):
        self.log, self.what, self.total, self.every_s = log, what, total, every_s
        self.t0 = self.last = time.perf_counter()

    def __call__(self, done: int) -> None:
        now = time.perf_counter()
        finished = done >= self.total
        if finished and now - self.t0 < self.every_s:
            return  # a quick loop says nothing
        if finished or now - self.last >= self.every_s:
            self.last = now
            left = remaining_s(done, self.total, now - self.t0)
            tail = "done" if finished else (f"ETA {eta_text(left)}" if left is not None else "")
            self.log(f"{self.what}: {done} of {self.total} ({now - self.t0:.0f} s, {tail})")
