"""Checksums of a version's immutable files, verification, and read-only permissions."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from mlops_dl import files
from mlops_dl.errors import RegistryError
from mlops_dl.registry.layout import CHECKSUMS, MUTABLE_DIRS



def immutable_files(root: Path) -> list[str]:
    """Relative POSIX paths of every file under ``root`` except checksums and mutable dirs."""
    out = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if rel.parts[0] in MUTABLE_DIRS or rel.as_posix() == CHECKSUMS or not path.is_file():
            continue
        out.append(rel.as_posix())
    return out


def write_checksums(root: Path) -> dict:
    """Hash every immutable file under ``root`` into ``checksums.json``."""
    recorded = {
        rel: {"sha256": files.sha256_file(root / rel), "bytes": (root / rel).stat().st_size}
        for rel in immutable_files(root)
    }
    doc = {"algorithm": "sha256", "files": recorded}
    (root / CHECKSUMS).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return doc


def find_problems(root: Path) -> list[str]:
    """Every mismatch between ``root`` and its checksums.json (empty list = intact)."""
    path = root / CHECKSUMS
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))["files"]
    except FileNotFoundError:
        return [f"{CHECKSUMS} is missing"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        return [f"{CHECKSUMS} is unreadable ({type(e).__name__}: {e})"]
    problems = []
    for rel, want in sorted(recorded.items()):
        file = root / rel
        if not file.is_file():
            problems.append(f"{rel}: missing")
            continue
        size = file.stat().st_size
        if size != want.get("bytes"):
            problems.append(f"{rel}: {size} bytes, recorded {want.get('bytes')} (truncated or changed)")
        elif files.sha256_file(file) != want.get("sha256"):
            problems.append(f"{rel}: sha256 differs from the recorded checksum (modified)")
    for rel in immutable_files(root):
        if rel not in recorded:
            problems.append(f"{rel}: not in {CHECKSUMS} (file added after registration)")
    return problems


def make_read_only(root: Path) -> None:
    """Drop write permission from every immutable file (the mutable dirs stay writable)."""
    for rel in [*immutable_files(root), CHECKSUMS]:
        file = root / rel
        mode = file.stat().st_mode
        file.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def make_writable(root: Path) -> None:
    """Give write permission back (before deleting a version tree)."""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames, "."]:
            p = Path(dirpath) / name
            try:
                p.chmod(p.stat().st_mode | stat.S_IWUSR)
            except OSError:
                pass


def raise_if_tampered(root: Path, label: str) -> None:
    problems = find_problems(root)
    if problems:
        raise RegistryError(
            f"{label} ({root}) failed verification and will not be used: "
            + "; ".join(problems)
            + ". Re-register the model from its run (mlops-dl export) or restore the files."
        )
