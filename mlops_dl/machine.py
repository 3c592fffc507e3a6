"""The machine and the code we run on: CPU model and flags, the git commit of this checkout.

One owner for what run dirs, exports and benchmarks record about where they ran.
Stdlib only (the serving path may import it).
"""

from __future__ import annotations

import platform
import subprocess
from functools import lru_cache
from pathlib import Path

# flags that change which kernels the engines pick (the rest of /proc/cpuinfo does not matter)
RELEVANT_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni",
                  "avx512_bf16", "amx_bf16", "amx_int8", "amx_tile", "avx512_fp16")
PACKAGE_DIR = Path(__file__).resolve().parent


@lru_cache(maxsize=1)
def _cpuinfo() -> tuple[str, frozenset[str]]:
    path = Path("/proc/cpuinfo")
    name, flags = "", frozenset()
    if path.is_file():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name" and not name:
                name = value.strip()
            elif key in ("flags", "Features") and not flags:
                flags = frozenset(value.split())
    return name or platform.processor() or platform.machine(), flags


def cpu_name() -> str:
    """The CPU model string, e.g. 'Intel(R) Xeon(R) Processor @ 2.60GHz'."""
    return _cpuinfo()[0]


def cpu_flags() -> list[str]:
    """The performance-relevant CPU flags this machine has (sorted)."""
    return sorted(f for f in RELEVANT_FLAGS if f in _cpuinfo()[1])


def cpu_info() -> dict:
    """{"name": CPU model, "flags": its performance-relevant flags}."""
    return {"name": cpu_name(), "flags": cpu_flags()}


def _git(root: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
    return out.stdout.strip() if out.returncode == 0 else ""


def git_commit(root: Path = PACKAGE_DIR) -> str | None:
    """HEAD of the checkout holding ``root`` (this package by default); None outside git."""
    try:
        return _git(root, "rev-parse", "HEAD") or None
    except (OSError, subprocess.SubprocessError):
        return None


def git_state(root: Path = PACKAGE_DIR) -> dict:
    """{"commit": HEAD or "", "dirty": tracked files changed (None when git cannot say)}."""
    try:
        return {"commit": _git(root, "rev-parse", "HEAD"),
                "dirty": bool(_git(root, "status", "--porcelain", "-uno"))}
    except (OSError, subprocess.SubprocessError):
        return {"commit": "", "dirty": None}
