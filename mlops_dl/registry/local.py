"""The local backend: ``<root>/<name>/version-N/`` folders, alias and tag files, a version lock.

See registry/README.md for the layout. Only stdlib + filelock: the serving path imports this.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from filelock import FileLock, Timeout

from mlops_dl import files
from mlops_dl.errors import RegistryError, quoted
from mlops_dl.registry import integrity, layout, staging
from mlops_dl.registry.bundle import fill_stage, read_meta
from mlops_dl.registry.refs import (check_alias, check_attachment, check_name, is_ascii_number,
                                    is_valid_name, parse_ref)
from mlops_dl.registry.store import Registry, check_registration, move_record
from mlops_dl.registry.version import ModelVersion, json_lines

VERSION_RE = re.compile(rf"{layout.VERSION_PREFIX}([1-9][0-9]*)")  # used with fullmatch
LOCK_TIMEOUT_S = 120.0


class LocalRegistry(Registry):
    """A registry in the folder ``root``: rename into place, numbers under a file lock."""

    def __init__(self, root: str | Path, cache_dir: str | Path | None = None):
        self.root = Path(root)  # resolved by registry.factory.open_registry

    def staging_root(self, name: str) -> Path:
        return self.root / check_name(name)

    # ------------------------------------------------------------------ write
    def register(self, name: str, bundle_dir: str | Path, metadata: dict | None = None,
                 attachments: dict[str, dict] | None = None) -> ModelVersion:
        """Copy a bundle (and first ``attachments``) in as the next version of ``name``,
        atomically; return it."""
        bundle = check_registration(name, bundle_dir, attachments)
        model_dir = self.root / name
        model_dir.mkdir(parents=True, exist_ok=True)
        staging.clean_stale(model_dir)
        stage = staging.new_staging_dir(model_dir)
        try:
            fill_stage(stage, bundle, name, metadata or {}, attachments or {})
            with self._lock(name):
                version = self._next_version(model_dir)
                final = model_dir / f"{layout.VERSION_PREFIX}{version}"
                os.rename(stage, final)
                files.write_text(model_dir / layout.LAST_VERSION, f"{version}\n")
        except BaseException:
            staging.remove_tree(stage)
            raise
        final.chmod(0o555)  # no files added or removed; tags/ and attachments/ stay writable
        return ModelVersion(name, version, final, read_meta(final))

    def _set_alias(self, name: str, alias: str, version: int | None, record: dict,
                   expect: int | None = None) -> int | None:
        """Rewrite (os.replace) or remove the alias file and append the move to its history,
        under the model lock (a concurrent delete cannot remove the target meanwhile)."""
        path = self.root / name / layout.ALIASES / alias
        with self._lock(name):
            before = self.alias_target(name, alias)
            if expect is not None and before != expect:
                raise RegistryError(f"{name}@{alias} moved meanwhile (now {before}, expected "
                                    f"{expect}); look at `registry history` and retry")
            if version is not None and not self._version_dir(name, version).is_dir():
                raise RegistryError(f"{name}:{version} was deleted while the alias was moved")
            if version is None:
                path.unlink(missing_ok=True)
            else:
                path.parent.mkdir(exist_ok=True)
                files.write_text(path, f"{version}\n")
            history = self.root / name / layout.HISTORY / f"{alias}.jsonl"
            _append_line(history, {**record, "from": before})
        return before

    def history(self, name: str, alias: str) -> list[dict]:
        """Every recorded move of ``<name>@<alias>``, oldest first."""
        path = self.root / check_name(name) / layout.HISTORY / f"{check_alias(alias)}.jsonl"
        return _read_lines(path)

    def set_tag(self, ref: str, key: str, value: str | None) -> ModelVersion:
        """Set (or, with ``value=None``, remove) a tag: a small file ``version-N/tags/<key>``."""
        check_name(key, "tag key")
        mv = self.get(ref, verify=False)
        tag_dir = mv.path / layout.TAGS
        if value is None:
            (tag_dir / key).unlink(missing_ok=True)
        else:
            files.write_text(tag_dir / key, f"{value}\n")
        return mv

    def attach(self, ref: str, filename: str, data: dict) -> str:
        """Store a mutable JSON attachment (e.g. bench.json) next to a version."""
        check_attachment(filename)
        mv = self.get(ref, verify=False)
        path = mv.path / layout.ATTACHMENTS / filename
        files.write_text(path, json.dumps(data, indent=2, default=str) + "\n")
        return str(path)

    def delete(self, ref: str, force: bool = False) -> ModelVersion:
        """Delete ``name:N`` (an explicit version). Aliases on it block unless ``force``."""
        parsed = parse_ref(ref)
        if parsed.version is None:
            raise RegistryError(f"delete needs an explicit version such as {parsed.name}:1, not {quoted(ref)}")
        mv = self.get(ref, verify=False)
        with self._lock(mv.name):
            pointing = [a for a, v in self.aliases(mv.name).items() if v == mv.version]
            if pointing and not force:
                raise RegistryError(
                    f"{mv.ref} is the target of alias(es) {', '.join(pointing)}; promote another "
                    f"version first or pass --force to remove the alias(es) too"
                )
            for alias in pointing:
                (self.root / mv.name / layout.ALIASES / alias).unlink(missing_ok=True)
                _append_line(self.root / mv.name / layout.HISTORY / f"{alias}.jsonl",
                             {**move_record(alias, None, "remove", f"{mv.ref} deleted"),
                              "from": mv.version})
            trash = staging.trash_path(self.root / mv.name, mv.version)
            os.rename(mv.path, trash)
        staging.remove_tree(trash)
        return mv

    def append_audit(self, name: str, record: dict) -> None:
        """Append one JSON line to the model's audit log (promotions.jsonl), under its lock."""
        check_name(name)
        with self._lock(name):
            _append_line(self.root / name / layout.AUDIT_LOG, record)

    # ------------------------------------------------------------------ read
    def read_audit(self, name: str) -> list[dict]:
        """Every record of the model's audit log, oldest first ([] when there is none)."""
        return _read_lines(self.root / check_name(name) / layout.AUDIT_LOG)

    def _version(self, name: str, version: int, verify: bool) -> ModelVersion:
        path = self._version_dir(name, version)
        if verify:
            integrity.raise_if_tampered(path, f"{name}:{version}")
        return ModelVersion(name, version, path, read_meta(path, strict=verify))

    def _problems(self, name: str, version: int) -> list[str]:
        return integrity.find_problems(self._version_dir(name, version))

    def list_models(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            p.name for p in self.root.iterdir()
            if p.is_dir() and is_valid_name(p.name) and self._versions(p.name)
        )

    def aliases(self, name: str) -> dict[str, int]:
        alias_dir = self.root / check_name(name) / layout.ALIASES
        if not alias_dir.is_dir():
            return {}
        out = {}
        for p in sorted(alias_dir.iterdir()):
            if p.is_file() and is_valid_name(p.name):
                target = self.alias_target(name, p.name)
                if target is not None:
                    out[p.name] = target
        return out

    def alias_target(self, name: str, alias: str) -> int | None:
        path = self.root / check_name(name) / layout.ALIASES / check_name(alias, "alias")
        try:
            text = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        if not is_ascii_number(text):
            raise RegistryError(f"{path}: alias file should hold a version number, found {quoted(text)}")
        return int(text)

    # ------------------------------------------------------------------ internals
    def _lock(self, name: str) -> FileLock:
        return _TimedLock(self.root / name / layout.LOCK)

    def _version_dir(self, name: str, version: int) -> Path:
        return self.root / name / f"{layout.VERSION_PREFIX}{version}"

    def _versions(self, name: str) -> list[int]:
        model_dir = self.root / name
        if not model_dir.is_dir():
            return []
        found = (VERSION_RE.fullmatch(p.name) for p in model_dir.iterdir())
        return sorted(int(m.group(1)) for m in found if m)

    def _next_version(self, model_dir: Path) -> int:
        last = 0
        try:
            last = int((model_dir / layout.LAST_VERSION).read_text(encoding="utf-8").strip() or 0)
        except (FileNotFoundError, ValueError):
            pass
        return max([last, *self._versions(model_dir.name)]) + 1


class _TimedLock(FileLock):
    """FileLock whose timeout becomes a RegistryError naming the lock file."""

    def __init__(self, path: Path):
        super().__init__(str(path), timeout=LOCK_TIMEOUT_S)

    def __enter__(self):
        try:
            return super().__enter__()
        except Timeout:
            raise RegistryError(
                f"could not take the registry lock {self.lock_file} within {LOCK_TIMEOUT_S:.0f}s; "
                f"another process is registering or deleting"
            ) from None


def _append_line(path: Path, record: dict) -> None:
    """Append one JSON line and fsync (callers hold the model lock)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, default=str) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _read_lines(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return json_lines(path.read_text(encoding="utf-8"), str(path))
