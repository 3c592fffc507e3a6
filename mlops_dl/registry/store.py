"""``Registry``: the one interface over two storage backends, and what they share.

Every operation a backend provides is an abstract method here with one signature and return
type: ``local.LocalRegistry`` (staging dir + rename + file lock) and ``s3.S3Registry``
(unlisted uploads + a manifest created with ``If-None-Match: *``, aliases moved by
``If-Match``). ``registry.factory.open_registry(root)`` picks one; this module imports neither.
Reference resolution, alias history and rollback, verification reports and copying are
written once here on the backends' primitives.
"""

from __future__ import annotations

import getpass
from abc import ABC, abstractmethod
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mlops_dl.errors import RegistryError
from mlops_dl.registry import layout, staging
from mlops_dl.registry.refs import ModelRef, check_alias, check_attachment, check_name, parse_ref
from mlops_dl.registry.version import ModelVersion

ACTIONS = ("move", "promote", "forced", "rollback", "remove", "copy")


class Registry(ABC):
    """A model registry (open one with ``registry.open_registry``); ``root`` is resolved once
    by the factory and handed to the backend."""

    root: Any

    @property
    def location(self) -> str:
        return str(self.root)

    def __repr__(self) -> str:
        return f"Registry({self.location!r})"

    # ------------------------------------------------------------------ backend primitives
    # each backend (local.LocalRegistry, s3.S3Registry) implements these; the rest is shared
    @abstractmethod
    def register(self, name: str, bundle_dir: str | Path, metadata: dict | None = None,
                 attachments: dict[str, dict] | None = None) -> ModelVersion:
        """Store a bundle folder as the next version of ``name``; it exists only once complete."""

    @abstractmethod
    def _set_alias(self, name: str, alias: str, version: int | None, record: dict,
                   expect: int | None = None) -> int | None:
        """Point (or with None remove) the alias and record the move, atomically with respect
        to other movers; return the version it pointed at before."""

    @abstractmethod
    def history(self, name: str, alias: str) -> list[dict]:
        """Every recorded move of ``name@alias``, oldest first."""

    @abstractmethod
    def _version(self, name: str, version: int, verify: bool) -> ModelVersion:
        """The stored version, its checksums (and signature) verified unless told not to."""

    @abstractmethod
    def _versions(self, name: str) -> list[int]:
        """The version numbers of ``name`` that exist, ascending."""

    @abstractmethod
    def _problems(self, name: str, version: int) -> list[str]:
        """What is wrong with a stored version (missing or altered files); empty when sound."""

    @abstractmethod
    def alias_target(self, name: str, alias: str) -> int | None:
        """The version ``name@alias`` points at, or None."""

    @abstractmethod
    def aliases(self, name: str) -> dict[str, int]:
        """Every alias of ``name`` and its version."""

    @abstractmethod
    def list_models(self) -> list[str]:
        """The model names, sorted."""

    @abstractmethod
    def set_tag(self, ref: str, key: str, value: str | None) -> ModelVersion:
        """Set (or, with ``value=None``, remove) a tag of the version ``ref``."""

    @abstractmethod
    def attach(self, ref: str, filename: str, data: dict) -> str:
        """Store (replace) the mutable JSON attachment ``filename`` of ``ref``; return where it
        went (a path or an s3:// URL) as a string."""

    @abstractmethod
    def delete(self, ref: str, force: bool = False) -> ModelVersion:
        """Delete ``name:N`` (an explicit version); aliases on it block unless ``force``."""

    @abstractmethod
    def append_audit(self, name: str, record: dict) -> None:
        """Append one record to the model's audit log (every promotion decision)."""

    @abstractmethod
    def read_audit(self, name: str) -> list[dict]:
        """Every record of the model's audit log, oldest first ([] when there is none)."""

    @abstractmethod
    def staging_root(self, name: str) -> Path:
        """Where work for ``name`` is staged (registry gc and later runs clean what a killed
        process left there): the model folder, or for S3 its folder in the reader cache."""

    # ------------------------------------------------------------------ aliases
    def promote(self, ref: str, alias: str, reason: str = "", action: str = "move") -> ModelVersion:
        """Point ``<name>@<alias>`` at the (verified) version ``ref``; the move is recorded."""
        check_alias(alias)
        mv = self.get(ref, verify=True)
        self._set_alias(mv.name, alias, mv.version, move_record(alias, mv.version, action, reason))
        return mv

    def remove_alias(self, name: str, alias: str, reason: str = "") -> int:
        """Remove ``<name>@<alias>`` (recorded); return the version it pointed at."""
        check_name(name)
        check_alias(alias)
        if self.alias_target(name, alias) is None:
            have = ", ".join(self.aliases(name)) or "none"
            raise RegistryError(f"{name} has no alias {alias!r} (aliases: {have})")
        before = self._set_alias(name, alias, None, move_record(alias, None, "remove", reason))
        if before is None:
            raise RegistryError(f"{name}@{alias} was removed meanwhile by another process")
        return before

    def rollback(self, name: str, alias: str, reason: str, to: int | None = None) -> dict:
        """Move the alias back to the version it pointed at before (or to ``to``), recorded."""
        check_name(name)
        check_alias(alias)
        if not reason.strip():
            raise RegistryError("rollback needs --reason \"...\": it is recorded with the move")
        current = self.alias_target(name, alias)
        if to is None:
            to = previous_target(self.history(name, alias), current)
            if to is None:
                raise RegistryError(f"{name}@{alias} has no earlier version in its history "
                                    f"(now {current}); give one with --to N")
        mv = self.get(f"{name}:{to}", verify=True)
        record = move_record(alias, mv.version, "rollback", reason)
        before = self._set_alias(name, alias, mv.version, record, expect=current)
        return {**record, "from": before, "ref": mv.ref}

    # ------------------------------------------------------------------ read
    def get(self, ref: str, verify: bool = True) -> ModelVersion:
        """Resolve ``name`` / ``name:N`` / ``name@alias``; verify checksums unless told not to."""
        parsed = parse_ref(ref)
        return self._version(parsed.name, self._resolve(parsed), verify)

    def verify(self, ref: str) -> ModelVersion:
        """Recompute the checksums of ``ref``; raise RegistryError naming every bad file."""
        return self.get(ref, verify=True)

    def verify_all(self, name: str | None = None) -> list[dict[str, Any]]:
        """Check every version (of ``name``, or of all models): [{"ref", "ok", "problems"}]."""
        names = [check_name(name)] if name else self.list_models()
        report = []
        for model in names:
            for version in self._versions(model):
                problems = self._problems(model, version)
                report.append({"ref": f"{model}:{version}", "ok": not problems, "problems": problems})
        return report

    def list_versions(self, name: str) -> list[ModelVersion]:
        check_name(name)
        return [self._version(name, v, verify=False) for v in self._versions(name)]

    def _resolve(self, ref: ModelRef) -> int:
        versions = self._versions(ref.name)
        if not versions:
            known = ", ".join(self.list_models()) or "none"
            raise RegistryError(f"no model named {ref.name!r} in registry {self.location} "
                                f"(models: {known})")
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

    # ------------------------------------------------------------------ copy
    def copy(self, ref: str, dest: "Registry", name: str | None = None,
             with_attestations: bool = False) -> ModelVersion:
        """Copy a verified version (files, attachments) into ``dest`` under its next number.
        Acceptance and promotion records stay behind unless ``with_attestations`` (another
        registry's canvas never saw the version; `promote` there re-verifies what comes);
        model.json records where it came from."""
        mv = self.get(ref, verify=True)
        target = check_name(name or mv.name)
        with staging.scratch(dest.staging_root(target)) as tmp:  # killed: cleaned there
            bundle = tmp / "bundle"
            for rel in mv.files():
                if rel in (layout.CHECKSUMS, layout.MODEL_JSON, layout.SIGNATURE):  # re-made there
                    continue
                (bundle / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(mv.file(rel), bundle / rel)
            origin = {"registry": self.location, "ref": mv.ref, "at": _now(), "user": current_user()}
            earlier = mv.meta.get("copied_from")
            meta = {**mv.meta, "copied_from": [*(earlier if isinstance(earlier, list) else []), origin]}
            kept = set(layout.ATTESTATIONS) if with_attestations else set()
            attachments = {a: mv.attachment(a) for a in mv.attachments()
                           if a not in layout.ATTESTATIONS or a in kept}
            bundle.mkdir(parents=True, exist_ok=True)
            return dest.register(target, bundle, metadata=meta, attachments=attachments)


def check_registration(name: str, bundle_dir: str | Path, attachments: dict | None) -> Path:
    """Refuse a bad name, attachment name or missing bundle before any work; the bundle."""
    check_name(name)
    for filename in attachments or {}:
        check_attachment(filename)
    bundle = Path(bundle_dir)
    if not bundle.is_dir():
        raise RegistryError(f"bundle directory {bundle} does not exist")
    return bundle


def move_record(alias: str, version: int | None, action: str, reason: str) -> dict:
    """One alias-history entry (``from`` is filled in by the backend under its lock/CAS)."""
    if action not in ACTIONS:
        raise RegistryError(f"unknown alias action {action!r} (expected one of {ACTIONS})")
    return {"alias": alias, "from": None, "to": version, "at": _now(), "user": current_user(),
            "action": action, "reason": reason}


def previous_target(history: list[dict], current: int | None) -> int | None:
    """The version the alias pointed at before it was moved to ``current``."""
    for rec in reversed(history):
        if rec.get("to") == current and rec.get("from") is not None:
            return int(rec["from"])
    return None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
