"""Crash-safe file operations inside a model directory: staging dirs, atomic small files.

A version is assembled in ``<name>/.staging-<host>-<pid>-<rand>/`` and renamed into place, so
a process killed mid-registration leaves only a hidden staging dir. A copy (and an S3
registration) works in the same kind of dir under the destination's ``staging_root``, never
in $TMPDIR. Later registrations and copies remove staging and trash dirs whose process is
gone (same host) or that are a day old; ``registry gc`` removes them sooner.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
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


def _owner(path: Path) -> tuple[str, int | None]:
    """(host, pid) from a staging/trash dir's name (pid None when unreadable)."""
    name = path.name
    rest = name[len(STAGING):] if name.startswith(STAGING) else name[len(TRASH):]
    host, _, tail = rest.partition("-")
    pid_text = tail.partition("-")[0]
    return host, int(pid_text) if pid_text.isascii() and pid_text.isdigit() else None


def _this_host() -> str:
    return socket.gethostname().replace("-", "_") or "host"


def owner_alive(path: Path) -> bool:
    """The staging/trash dir's owner process still runs on this host."""
    host, pid = _owner(path)
    return host == _this_host() and pid is not None and _pid_alive(pid)


def age_s(path: Path, now: float | None = None) -> float | None:
    """Seconds since ``path`` last changed (None: it is gone)."""
    try:
        return (now or time.time()) - path.stat().st_mtime
    except FileNotFoundError:
        return None


@contextmanager
def scratch(parent: Path) -> Iterator[Path]:
    """A fresh staging dir under ``parent`` (stale ones there removed first), removed after."""
    parent.mkdir(parents=True, exist_ok=True)
    clean_stale(parent)
    path = new_staging_dir(parent)
    try:
        yield path
    finally:
        remove_tree(path)


def is_stale(path: Path, now: float | None = None) -> bool:
    """A staging/trash dir whose owner process is gone (same host) or that is a day old."""
    age = age_s(path, now)
    if age is None:
        return False
    host, pid = _owner(path)
    return age > STALE_AFTER_S or (host == _this_host() and pid is not None
                                   and not _pid_alive(pid))


def leftovers(parent: Path) -> list[Path]:
    """The staging and trash dirs directly under ``parent``."""
    return sorted(p for p in parent.glob(".*")
                  if p.name.startswith((STAGING, TRASH)) and p.is_dir())


def clean_stale(model_dir: Path) -> list[Path]:
    """Remove stale staging and trash dirs under ``model_dir``; return what was removed."""
    removed = []
    for path in leftovers(model_dir):
        if is_stale(path):
            remove_tree(path)
            removed.append(path)
    return removed
