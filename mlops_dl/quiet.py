"""Expected third-party notices: silenced, and said in one plain line where they mean something.

Messages that look like errors but are what a normal run does — transformers' LOAD REPORT when
a new classification head is created, Lightning's adverts and "configured so 100 % of the
batches" notices, onnxruntime's "consider pre-processing" advice before dynamic int8
quantization — are dropped with a logging filter for the duration of the call that emits them.
Stdlib only, so every stage may import it.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
from collections.abc import Iterator

LIGHTNING_NOTICES = (r"^GPU available: ", r"^TPU available: ", r"^💡 Tip: ",
                     r"^`Trainer\(\w+=1(\.0)?\)` was configured so ")
ORT_PREPROCESS = r"^Please consider to run pre-processing before quantization"
HF_LOAD_REPORT = r"LOAD REPORT"  # summarised by train.model.load_summary instead


class _Drop(logging.Filter):
    def __init__(self, patterns: tuple[str, ...]):
        super().__init__()
        self.patterns = [re.compile(p) for p in patterns]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(p.search(message) for p in self.patterns)


@contextlib.contextmanager
def drop_messages(logger: logging.Logger | str, *patterns: str) -> Iterator[None]:
    """Drop records of ``logger`` whose message matches one of ``patterns`` (regexes)."""
    log = logging.getLogger(logger) if isinstance(logger, str) else logger
    f = _Drop(patterns)
    log.addFilter(f)
    try:
        yield
    finally:
        log.removeFilter(f)


def note(message: str) -> None:
    """One plain line on stderr (stdout stays free for --json)."""
    print(f"note: {message}", file=sys.stderr, flush=True)
