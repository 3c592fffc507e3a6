"""The prediction log: one JSON line per prediction, size-rotated, written by its own thread.

Requests only enqueue records (never wait on the disk for long); ``close()`` drains the queue,
so no line is lost on shutdown.
"""

from __future__ import annotations

import hashlib
import json
import queue
import threading
from datetime import datetime, timezone
from pathlib import Path

_STOP = object()


def text_field(text: str, mode: str) -> dict:
    """What the log keeps of a text: the text itself (``masked``: masked by the log's writer
    thread, off the request path), its sha256, or nothing."""
    if mode in ("text", "masked"):
        return {"text": text}
    if mode == "hash":
        return {"text_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()}
    return {}


class PredictionLog:
    """Append JSON lines to ``path``; rotate to ``path.1`` .. ``path.<backups>`` by size."""

    def __init__(self, path: str | Path, max_bytes: int = 50_000_000, backups: int = 5,
                 max_queue: int = 100_000, put_timeout_s: float = 0.5, mask: bool = False):
        self.path = Path(path)
        self.masker = None
        if mask:  # serve.log_text: masked; built now so a missing Presidio fails at start-up
            from mlops_dl import pii

            self.masker = pii.masker()
        self.max_bytes = max_bytes
        self.backups = max(0, backups)
        self.put_timeout_s = put_timeout_s
        self.dropped = 0  # records refused because the writer fell max_queue behind
        self.written = 0
        self._queue: queue.Queue = queue.Queue(maxsize=max_queue)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "ab")
        self._size = self._file.tell()
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def write(self, record: dict) -> bool:
        """Queue one record; False when the writer is too far behind (counted in ``dropped``)."""
        try:
            self._queue.put(record, timeout=self.put_timeout_s)
            return True
        except queue.Full:
            self.dropped += 1
            return False

    def close(self) -> None:
        """Write everything queued, flush and close the file."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            batch = [item]
            while not self._queue.empty() and len(batch) < 1000:  # drain what is waiting
                batch.append(self._queue.get_nowait())
            stop = any(r is _STOP for r in batch)
            for record in batch:
                if record is not _STOP:
                    if self.masker is not None and isinstance(record.get("text"), str):
                        record["text"] = self.masker.mask(record["text"])[0]
                    self._append(json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n")
            self._file.flush()
            if stop:
                self._file.close()
                return

    def _append(self, line: bytes) -> None:
        if self.max_bytes > 0 and self._size > 0 and self._size + len(line) > self.max_bytes:
            self._rotate()
        self._file.write(line)
        self._size += len(line)
        self.written += 1

    def _rotate(self) -> None:
        """path -> path.1 -> path.2 ...; the oldest beyond ``backups`` is removed."""
        self._file.close()
        if self.backups == 0:
            self.path.unlink(missing_ok=True)
        else:
            oldest = self.path.with_name(f"{self.path.name}.{self.backups}")
            oldest.unlink(missing_ok=True)
            for i in range(self.backups - 1, 0, -1):
                src = self.path.with_name(f"{self.path.name}.{i}")
                if src.exists():
                    src.replace(self.path.with_name(f"{self.path.name}.{i + 1}"))
            self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        self._file = open(self.path, "ab")
        self._size = 0


def log_predictions(plog: PredictionLog, mode: str, rid: str, texts: list[str],
                    results: list[dict], predictor, latency_ms: float) -> None:
    """One line per text of a request (any protocol): text per ``mode``, label, model."""
    ts = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    for i, (text, r) in enumerate(zip(texts, results)):
        plog.write({"ts": ts, "request_id": rid, "index": i, **text_field(text, mode),
                    "label": r["label"], "probabilities": r["probabilities"],
                    "model": predictor.model_name, "version": predictor.version,
                    "engine": predictor.engine, "variant": predictor.variant,
                    "precision": predictor.precision, "servable": predictor.servable.key,
                    "latency_ms": round(latency_ms, 3)})
