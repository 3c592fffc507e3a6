"""Checksums of a version's immutable files, verification, and read-only permissions.

Checksums catch accidents (a truncated copy, a changed file). Tampering is caught by the
version's signature (``model.sig``, OpenSSF model signing: see ``signing``), required on every
verified read when ``$MLOPS_DL_MODEL_VERIFY_KEY`` is set. Legacy: with ``$MLOPS_DL_SIGNING_KEY``
set, the checksum manifest carries an HMAC-SHA256 over its file list (a shared secret that
every reader must hold); such versions are still read and checked.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
from pathlib import Path

from mlops_dl import files
from mlops_dl.errors import RegistryError, clip
from mlops_dl.registry import signing
from mlops_dl.registry.layout import CHECKSUMS, MUTABLE_DIRS, SIGNATURE

SIGNING_KEY_ENV = "MLOPS_DL_SIGNING_KEY"
SIGNATURE_FIELD = "hmac_sha256"  # legacy: key in checksums.json, HMAC of the manifest without it


def immutable_files(root: Path) -> list[str]:
    """Relative POSIX paths of every file under ``root`` except checksums and mutable dirs."""
    out = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if (rel.parts[0] in MUTABLE_DIRS or rel.as_posix() in (CHECKSUMS, SIGNATURE)
                or not path.is_file()):
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
    key = signing_key()
    if key:
        doc[SIGNATURE_FIELD] = manifest_signature(doc, key)
    (root / CHECKSUMS).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return doc


def signing_key() -> bytes:
    """The HMAC key from $MLOPS_DL_SIGNING_KEY (b"" when unset: no signing, no check)."""
    return os.environ.get(SIGNING_KEY_ENV, "").encode("utf-8")


def manifest_signature(doc: dict, key: bytes) -> str:
    """Legacy: HMAC-SHA256 (hex) of the manifest's canonical JSON, its signature field left out."""
    body = {k: v for k, v in doc.items() if k != SIGNATURE_FIELD}
    blob = json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return hmac.new(key, blob, hashlib.sha256).hexdigest()


def signature_problem(doc: dict, key: bytes) -> str | None:
    """Why the manifest's signature does not hold under ``key`` (None: it holds)."""
    given = doc.get(SIGNATURE_FIELD)
    if not isinstance(given, str):
        return (f"{CHECKSUMS} is not signed but {SIGNING_KEY_ENV} is set (registered without "
                f"the key, or the signature was stripped)")
    if not hmac.compare_digest(given, manifest_signature(doc, key)):
        return (f"{CHECKSUMS} signature does not match under {SIGNING_KEY_ENV} (the manifest "
                f"was rewritten, or it was signed with another key)")
    return None


def trust_problems(doc: dict, folder: Path, only_signed_files: bool = False) -> list[str]:
    """Why the version in ``folder`` (checksums ``doc``) is not trusted under the configured
    keys: its model.sig with a verifying key set; else (legacy) the HMAC with
    $MLOPS_DL_SIGNING_KEY set. Empty: trusted, or no key configured."""
    key = signing_key()
    legacy = bool(key) and isinstance(doc.get(SIGNATURE_FIELD), str)
    if signing.verifies() and ((folder / SIGNATURE).is_file() or not legacy):
        problem = signing.version_problem(folder, only_signed_files)
        return [problem] if problem else []
    if key:  # a legacy HMAC-signed version (or no verifying key configured)
        problem = signature_problem(doc, key)
        return [problem] if problem else []
    return []


def find_problems(root: Path) -> list[str]:
    """Every mismatch between ``root`` and its checksums.json (empty list = intact)."""
    path = root / CHECKSUMS
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        recorded = doc["files"]
    except FileNotFoundError:
        return [f"{CHECKSUMS} is missing"]
    except (ValueError, RecursionError, KeyError, TypeError) as e:
        return [f"{CHECKSUMS} is unreadable ({type(e).__name__}: {clip(str(e))})"]
    if not isinstance(recorded, dict) or not all(isinstance(w, dict) for w in recorded.values()):
        return [f"{CHECKSUMS} is unreadable (files is not a mapping of path -> sha256, bytes)"]
    problems = trust_problems(doc, root)
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
    for rel in [*immutable_files(root), CHECKSUMS, SIGNATURE]:
        file = root / rel
        if not file.is_file():
            continue
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
