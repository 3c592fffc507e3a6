"""One registered version and the only way to read its files (names in ``layout``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_dl.errors import RegistryError, clip, quoted
from mlops_dl.registry import integrity, layout


@dataclass
class ModelVersion:
    """One registered version of ``name``; read its files through the methods below."""

    name: str
    version: int | None  # None: an unregistered bundle folder (registry.bundle.read_bundle)
    path: Path  # local files (the version folder, or the reader cache of a remote version)
    meta: dict
    remote: Any = field(default=None, repr=False, compare=False)  # s3.RemoteFiles or None

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}" if self.version is not None else self.name

    @property
    def location(self) -> str:
        """Where the version is stored, for people: a folder or an s3:// URL."""
        return self.remote.location if self.remote is not None else str(self.path)

    def _path(self, name: str) -> Path:
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise RegistryError(f"{self.ref}: file name {quoted(name)} points outside the version")
        return self.path / name

    def has(self, name: str) -> bool:
        path = self._path(name)
        return name in self.remote.listing if self.remote is not None else path.is_file()

    def file(self, name: str) -> Path:
        """A local path to the file ``name`` (to hand to onnxruntime, tokenizers, ...); a
        remote version's file is fetched into the reader cache and checked first."""
        path = self._path(name)
        if self.remote is not None and self.has(name):
            return self.remote.fetch(name)
        if not path.is_file():
            raise RegistryError(f"{self.ref} has no file {quoted(name)} (looked at {self.location})")
        return path

    def size(self, name: str) -> int:
        if self.remote is not None and self.has(name):
            return int(self.remote.listing[name]["bytes"])
        return self.file(name).stat().st_size

    def files(self) -> dict[str, int]:
        """The version's own files (not tags or attachments): {relative path: bytes}."""
        if self.remote is not None:
            return {rel: int(f["bytes"]) for rel, f in sorted(self.remote.listing.items())}
        rels = [*integrity.immutable_files(self.path), layout.CHECKSUMS]
        return {rel: (self.path / rel).stat().st_size for rel in sorted(rels)
                if (self.path / rel).is_file()}

    def read_text(self, name: str) -> str:
        return self.file(name).read_text(encoding="utf-8")

    def read_json(self, name: str) -> dict | list | None:
        """The JSON file ``name``, or None when the version has no such file."""
        if not self.has(name):
            return None
        try:
            return json.loads(self.read_text(name))
        except (ValueError, RecursionError) as e:  # also a >4300-digit integer
            raise RegistryError(f"{self.ref}: {name} is not valid JSON: {clip(str(e))}") from None

    def read_jsonl(self, name: str) -> list[dict] | None:
        """The JSON-lines file ``name`` as a list of rows, or None when there is none."""
        if not self.has(name):
            return None
        return json_lines(self.read_text(name), f"{self.ref}: {name}")

    @property
    def lineage(self) -> dict:
        """lineage.json (run dir, data dir, fingerprints, commits), {} for a version without."""
        return self.read_json(layout.LINEAGE) or {}

    def variant_name(self, variant: str) -> str:
        """The ONNX file name of a variant ('fp32', 'int8', …) as model.json declares it; a
        model.json without ``variants`` (older bundles) has fp32 as model.onnx."""
        variants = self.meta.get("variants") or {"fp32": layout.VARIANT_FILES["fp32"]}
        if variant not in variants:
            raise RegistryError(
                f"{self.ref} has no {quoted(variant)} variant (has: {', '.join(variants) or 'none'})"
            )
        return variants[variant]

    def variant_file(self, variant: str) -> Path:
        """The ONNX file of a variant (see ``variant_name``)."""
        return self.file(self.variant_name(variant))

    def attachment(self, name: str) -> dict | None:
        if self.remote is not None:
            return self.remote.attachment(name)
        path = self._path(f"{layout.ATTACHMENTS}/{name}")
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, RecursionError) as e:  # also a >4300-digit integer
            raise RegistryError(f"{path}: attachment is not valid JSON: {clip(str(e))}") from None

    def attachments(self) -> list[str]:
        if self.remote is not None:
            return self.remote.attachments()
        return sorted(p.name for p in (self.path / layout.ATTACHMENTS).glob("*.json"))

    @property
    def tags(self) -> dict[str, str]:
        if self.remote is not None:
            return self.remote.tags()
        tag_dir = self.path / layout.TAGS
        if not tag_dir.is_dir():
            return {}
        return {
            p.name: p.read_text(encoding="utf-8").rstrip("\n")
            for p in sorted(tag_dir.iterdir())
            if p.is_file() and not p.name.startswith(".")
        }


def json_lines(text: str, where: str) -> list:
    """The rows of a JSON-lines text; a bad line is a RegistryError naming ``where`` and the line."""
    rows = []
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except (ValueError, RecursionError) as e:  # also a >4300-digit integer, deep nesting
            raise RegistryError(f"{where} line {i} is not valid JSON: {clip(str(e))}") from None
    return rows
