"""The file registry: ``<root>/<name>/version-N/`` folders, alias and tag files, a version lock.

See registry/README.md for the layout. Only stdlib + filelock: the serving path imports this.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from mlops_dl import files
from mlops_dl.errors import RegistryError
from mlops_dl.registry import integrity, staging
from mlops_dl.registry.bundle import MODEL_JSON, fill_stage, read_meta
from mlops_dl.registry.refs import ModelRef, check_alias, check_name, parse_ref

VERSION_RE = re.compile(r"^version-([1-9][0-9]*)$")
LAST_VERSION = "last_version"  # highest number ever handed out (never reused after delete)
LOCK_TIMEOUT_S = 120.0


@dataclass
class ModelVersion:
    """One registered version: ``path`` is ``<root>/<name>/version-<version>``."""

    name: str
    version: int
    path: Path
    meta: dict

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    def file(self, name: str) -> Path:
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise RegistryError(f"{self.ref}: file name {name!r} points outside the version")
        path = self.path / name
        if not path.is_file():
            raise RegistryError(f"{self.ref} has no file {name!r} (looked at {path})")
        return path

    def variant_file(self, variant: str) -> Path:
        """The ONNX file of a variant ('fp32', 'int8') as declared in model.json."""
        variants = self.meta.get("variants", {})
        if variant not in variants:
            raise RegistryError(
                f"{self.ref} has no {variant!r} variant (has: {', '.join(variants) or 'none'})"
            )
        return self.file(variants[variant])

    def attachment(self, name: str) -> dict | None:
        path = self.path / "attachments" / name
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise RegistryError(f"{path}: attachment is not valid JSON: {e}") from None

    @property
    def tags(self) -> dict[str, str]:
        tag_dir = self.path / "tags"
        if not tag_dir.is_dir():
            return {}
        return {
            p.name: p.read_text(encoding="utf-8").rstrip("\n")
            for p in sorted(tag_dir.iterdir())
            if p.is_file() and not p.name.startswith(".")
        }


class Registry:
    """A model registry rooted at ``root`` (None: $MLOPS_DL_REGISTRY or ./registry)."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root or os.environ.get("MLOPS_DL_REGISTRY") or "registry")

    def __repr__(self) -> str:
        return f"Registry({str(self.root)!r})"

    # ------------------------------------------------------------------ write
    def register(self, name: str, bundle_dir: str | Path, metadata: dict | None = None) -> ModelVersion:
        """Copy a bundle in as the next version of ``name``, atomically; return it."""
        check_name(name)
        bundle = Path(bundle_dir)
        if not bundle.is_dir():
            raise RegistryError(f"bundle directory {bundle} does not exist")
        model_dir = self.root / name
        model_dir.mkdir(parents=True, exist_ok=True)
        staging.clean_stale(model_dir)
        stage = staging.new_staging_dir(model_dir)
        try:
            fill_stage(stage, bundle, name, metadata or {})
            with self._lock(name):
                version = self._next_version(model_dir)
                final = model_dir / f"version-{version}"
                os.rename(stage, final)
                files.write_text(model_dir / LAST_VERSION, f"{version}\n")
        except BaseException:
            staging.remove_tree(stage)
            raise
        final.chmod(0o555)  # no files added or removed; tags/ and attachments/ stay writable
        return ModelVersion(name, version, final, read_meta(final))

    def promote(self, ref: str, alias: str) -> ModelVersion:
        """Point ``<name>@<alias>`` at the (verified) version ``ref`` with one os.replace."""
        check_alias(alias)
        mv = self.get(ref, verify=True)
        alias_dir = self.root / mv.name / "aliases"
        with self._lock(mv.name):  # a concurrent delete cannot remove the target meanwhile
            if not mv.path.is_dir():
                raise RegistryError(f"{mv.ref} was deleted while being promoted")
            alias_dir.mkdir(exist_ok=True)
            files.write_text(alias_dir / alias, f"{mv.version}\n")
        return mv

    def remove_alias(self, name: str, alias: str) -> None:
        check_name(name)
        check_alias(alias)
        path = self.root / name / "aliases" / alias
        if not path.is_file():
            raise RegistryError(f"{name} has no alias {alias!r}")
        path.unlink()

    def set_tag(self, ref: str, key: str, value: str | None) -> ModelVersion:
        """Set (or, with ``value=None``, remove) a tag: a small file ``version-N/tags/<key>``."""
        check_name(key, "tag key")
        mv = self.get(ref, verify=False)
        tag_dir = mv.path / "tags"
        if value is None:
            (tag_dir / key).unlink(missing_ok=True)
        else:
            files.write_text(tag_dir / key, f"{value}\n")
        return mv

    def attach(self, ref: str, filename: str, data: dict) -> Path:
        """Store a mutable JSON attachment (e.g. bench.json) next to a version."""
        check_name(filename, "attachment name")
        if not filename.endswith(".json"):
            raise RegistryError(f"attachment name {filename!r} must end with .json")
        mv = self.get(ref, verify=False)
        path = mv.path / "attachments" / filename
        files.write_text(path, json.dumps(data, indent=2, default=str) + "\n")
        return path

    def delete(self, ref: str, force: bool = False) -> ModelVersion:
        """Delete ``name:N`` (an explicit version). Aliases on it block unless ``force``."""
        parsed = parse_ref(ref)
        if parsed.version is None:
            raise RegistryError(f"delete needs an explicit version such as {parsed.name}:1, not {ref!r}")
        mv = self.get(ref, verify=False)
        with self._lock(mv.name):
            pointing = [a for a, v in self.aliases(mv.name).items() if v == mv.version]
            if pointing and not force:
                raise RegistryError(
                    f"{mv.ref} is the target of alias(es) {', '.join(pointing)}; promote another "
                    f"version first or pass --force to remove the alias(es) too"
                )
            for alias in pointing:
                (self.root / mv.name / "aliases" / alias).unlink(missing_ok=True)
            trash = staging.trash_path(self.root / mv.name, mv.version)
            os.rename(mv.path, trash)
        staging.remove_tree(trash)
        return mv

    # ------------------------------------------------------------------ read
    def get(self, ref: str, verify: bool = True) -> ModelVersion:
        """Resolve ``name`` / ``name:N`` / ``name@alias``; verify checksums unless told not to."""
        parsed = parse_ref(ref)
        version = self._resolve(parsed)
        path = self.root / parsed.name / f"version-{version}"
        if verify:
            integrity.raise_if_tampered(path, f"{parsed.name}:{version}")
        return ModelVersion(parsed.name, version, path, read_meta(path))

    def verify(self, ref: str) -> ModelVersion:
        """Recompute the checksums of ``ref``; raise RegistryError naming every bad file."""
        return self.get(ref, verify=True)

    def verify_all(self, name: str | None = None) -> list[dict[str, Any]]:
        """Check every version (of ``name``, or of all models): [{"ref", "ok", "problems"}]."""
        names = [check_name(name)] if name else self.list_models()
        report = []
        for model in names:
            for version in self._versions(model):
                problems = integrity.find_problems(self.root / model / f"version-{version}")
                report.append({"ref": f"{model}:{version}", "ok": not problems, "problems": problems})
        return report

    def list_models(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            p.name for p in self.root.iterdir()
            if p.is_dir() and _valid_name(p.name) and self._versions(p.name)
        )

    def list_versions(self, name: str) -> list[ModelVersion]:
        check_name(name)
        out = []
        for v in self._versions(name):
            path = self.root / name / f"version-{v}"
            out.append(ModelVersion(name, v, path, read_meta(path, strict=False)))
        return out

    def aliases(self, name: str) -> dict[str, int]:
        alias_dir = self.root / check_name(name) / "aliases"
        if not alias_dir.is_dir():
            return {}
        out = {}
        for p in sorted(alias_dir.iterdir()):
            if p.is_file() and _valid_name(p.name):
                target = self.alias_target(name, p.name)
                if target is not None:
                    out[p.name] = target
        return out

    def alias_target(self, name: str, alias: str) -> int | None:
        path = self.root / check_name(name) / "aliases" / check_name(alias, "alias")
        try:
            text = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        if not text.isdigit():
            raise RegistryError(f"{path}: alias file should hold a version number, found {text!r}")
        return int(text)

    # ------------------------------------------------------------------ internals
    def _lock(self, name: str) -> FileLock:
        return _TimedLock(self.root / name / ".lock")

    def _versions(self, name: str) -> list[int]:
        model_dir = self.root / name
        if not model_dir.is_dir():
            return []
        found = (VERSION_RE.match(p.name) for p in model_dir.iterdir())
        return sorted(int(m.group(1)) for m in found if m)

    def _next_version(self, model_dir: Path) -> int:
        last = 0
        try:
            last = int((model_dir / LAST_VERSION).read_text(encoding="utf-8").strip() or 0)
        except (FileNotFoundError, ValueError):
            pass
        return max([last, *self._versions(model_dir.name)]) + 1

    def _resolve(self, ref: ModelRef) -> int:
        versions = self._versions(ref.name)
        if not versions:
            known = ", ".join(self.list_models()) or "none"
            raise RegistryError(f"no model named {ref.name!r} in registry {self.root} (models: {known})")
        if ref.alias is not None:
            target = self.alias_target(ref.name, ref.alias)
            if target is None:
                have = ", ".join(self.aliases(ref.name)) or "none"
                raise RegistryError(f"{ref.name} has no alias {ref.alias!r} (aliases: {have})")
            if target not in versions:
                raise RegistryError(f"alias {ref} points at version {target}, which no longer exists")
            return target
        if ref.version is None:
            return versions[-1]
        if ref.version not in versions:
            have = ", ".join(str(v) for v in versions)
            raise RegistryError(f"{ref.name} has no version {ref.version} (versions: {have})")
        return ref.version


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


def _valid_name(name: str) -> bool:
    try:
        check_name(name)
    except RegistryError:
        return False
    return True
