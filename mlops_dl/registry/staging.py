"""Crash-safe file operations inside a model directory: staging dirs, atomic small files.

A version is assembled in ``<name>/.staging-<host>-<pid>-<rand>/`` and renamed into place, so
a process killed mid-registration leaves only a hidden staging dir. Later registrations
remove staging and trash dirs whose process is gone (same host) or that are a day old.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
from pathlib import Path

from mlops_dl.registry.integrity import make_writable

STAGING = ".staging-"
TRASH = ".trash-"
STALE_AFTER_S = 24 * 3600


def _owner_tag() -> str:
    host = socket.gethostname().replace("-", "_") or "host"
    return f"{host}-{os.getpid()}-"


def new_staging_dir(model_dir: Path) -> Path:
    return Path(tempfile.mkdtemp(prefix=STAGING + _owner_tag(), dir=model_dir))


def trash_path(model_dir: Path, version: int) -> Path:
    return model_dir / f"{TRASH}{_owner_tag()}v{version}-{time.time_ns()}"


def remove_tree(path: Path) -> None:
    make_writable(path)
    shutil.rmtree(path, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stale(path: Path, now: float | None = None) -> bool:
    """A staging/trash dir whose owner process is gone (same host) or that is a day old."""
    name = path.name
    rest = name[len(STAGING):] if name.startswith(STAGING) else name[len(TRASH):]
    host, _, tail = rest.partition("-")
    pid_text = tail.partition("-")[0]
    try:
        age = (now or time.time()) - path.stat().st_mtime
    except FileNotFoundError:
        return False
    if age > STALE_AFTER_S:
        return True
    this_host = socket.gethostname().replace("-", "_") or "host"
    return host == this_host and pid_text.isascii() and pid_text.isdigit() and not _pid_alive(int(pid_text))


def clean_stale(model_dir: Path) -> list[Path]:
    """Remove stale staging and trash dirs under ``model_dir``; return what was removed."""
    removed = []
    for path in model_dir.glob(".*"):
        if path.name.startswith((STAGING, TRASH)) and path.is_dir() and is_stale(path):
            remove_tree(path)
            removed.append(path)
    return removed
