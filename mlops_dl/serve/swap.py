"""Hot swap: follow the served reference in the registry and switch versions atomically.

The holder keeps one Predictor; a poll resolves the reference (cheap, no checksum), and when
it names another version, that version is verified and loaded off the request path, then the
reference is replaced in one assignment. Batches already running keep the predictor they took.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from mlops_dl.registry import parse_ref
from mlops_dl.runtime import Predictor

log = logging.getLogger("mlops_dl.serve")


def is_pinned(ref: str) -> bool:
    """``name:3`` never moves; ``name`` (latest) and ``name@alias`` can."""
    return parse_ref(ref).version is not None


class ModelHolder:
    """The predictor being served, and the logic that replaces it when the reference moves.

    ``resolve()`` returns the version the reference names now; ``load(version)`` returns a
    verified Predictor for it. Both run in a background thread, never in a request.
    """

    def __init__(self, ref: str, resolve: Callable[[], int], load: Callable[[int], Predictor],
                 on_swap: Callable[[Predictor | None, Predictor], None] | None = None,
                 retry_after_s: float = 30.0):
        self.ref = ref
        self.resolve = resolve
        self.load = load
        self.on_swap = on_swap
        self.predictor: Predictor | None = None
        self.swaps = 0
        self.last_error: str | None = None
        self.retry_after_s = retry_after_s  # a version that failed to load waits this long
        self._failed: tuple[int, float] | None = None  # (version, when)
        self._lock = threading.Lock()  # one load at a time

    @property
    def ready(self) -> bool:
        return self.predictor is not None

    def current(self) -> Predictor:
        predictor = self.predictor
        if predictor is None:
            raise RuntimeError("no model loaded yet")
        return predictor

    @classmethod
    def from_registry(cls, ref: str, registry, make: Callable, **kw) -> "ModelHolder":
        """A holder over ``registry`` (a Registry); ``make(ModelVersion)`` builds a Predictor."""
        name = parse_ref(ref).name

        def resolve() -> int:
            return registry.get(ref, verify=False).version

        def load(version: int) -> Predictor:
            return make(registry.get(f"{name}:{version}", verify=True))

        return cls(ref, resolve, load, **kw)

    def check(self) -> bool:
        """Resolve the reference; load and switch when it names another version. True if swapped."""
        with self._lock:
            try:
                version = self.resolve()
            except Exception as e:  # registry briefly unreadable: keep serving what we have
                self.last_error = f"resolving {self.ref}: {e}"
                log.warning(self.last_error)
                return False
            current = self.predictor
            if current is not None and current.version == version:
                self._failed = None
                self.last_error = None  # e.g. the alias moved back to what is serving
                return False
            if (current is not None and self._failed and self._failed[0] == version
                    and time.time() - self._failed[1] < self.retry_after_s):
                return False
            try:
                new = self.load(version)
            except Exception as e:
                self._failed = (version, time.time())
                self.last_error = f"loading {self.ref} -> version {version}: {e}"
                log.error(self.last_error)
                if current is None:
                    raise
                return False
            self.predictor = new  # the atomic switch
            self.last_error = None
            if current is not None:
                self.swaps += 1
                log.warning("hot swap %s: version %s -> %s", self.ref, current.version, version)
            if self.on_swap is not None:
                self.on_swap(current, new)
            return current is not None
