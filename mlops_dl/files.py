"""Atomic file writes and file hashing, for every module that writes an artifact.

Each write goes to a temp file in the destination's folder, is fsynced and then moved over
the destination with one ``os.replace``: a reader sees the old file or the new one, never half
of one, and a failed write removes its temp file.

    files.write_json(run_dir / "metrics.json", metrics)
    files.write_with(path, lambda tmp: fig.savefig(tmp))   # any writer that takes a path
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

FILE_MODE = 0o644  # mkstemp creates 0600; artifacts are readable by all like any other file


def write_with(path: str | Path, write: Callable[[Path], Any], suffix: str = "") -> Path:
    """Call ``write(tmp)`` on a temp path next to ``path``, fsync it, then replace ``path``.

    ``suffix`` keeps an extension on the temp name for writers that infer a format from it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or ".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        tmp.chmod(FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_bytes(path: str | Path, data: bytes) -> Path:
    return write_with(path, lambda tmp: tmp.write_bytes(data))


def write_text(path: str | Path, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, data: Any) -> Path:
    """Indented UTF-8 JSON (non-JSON values such as paths and dates become strings)."""
    return write_text(path, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
