"""One registered version and the only way to read its files (names in ``layout``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_dl.errors import RegistryError, clip, quoted
from mlops_dl.registry import integrity, layout


class LocalFiles:
    """The files of a version folder (or an unregistered bundle) as ModelVersion reads them."""

    def __init__(self, path: Path):
        self.folder = path
        self.location = str(path)

    def has(self, rel: str) -> bool:
        return (self.folder / rel).is_file()

    def fetch(self, rel: str) -> Path:
        return self.folder / rel

    def size(self, rel: str) -> int:
        return (self.folder / rel).stat().st_size

    def listing_sizes(self) -> dict[str, int]:
        rels = [*integrity.immutable_files(self.folder), layout.CHECKSUMS]
        return {rel: (self.folder / rel).stat().st_size for rel in sorted(rels)
                if (self.folder / rel).is_file()}

    def attachment(self, filename: str) -> dict | None:
        path = self.folder / layout.ATTACHMENTS / filename
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, RecursionError) as e:  # also a >4300-digit integer
            raise RegistryError(f"{path}: attachment is not valid JSON: {clip(str(e))}") from None

    def attachments(self) -> list[str]:
        return sorted(p.name for p in (self.folder / layout.ATTACHMENTS).glob("*.json"))

    def tags(self) -> dict[str, str]:
        tag_dir = self.folder / layout.TAGS
        if not tag_dir.is_dir():
            return {}
        return {p.name: p.read_text(encoding="utf-8").rstrip("\n") for p in sorted(tag_dir.iterdir())
                if p.is_file() and not p.name.startswith(".")}


@dataclass
class ModelVersion:
    """One registered version of ``name``; read its files through the methods below. Where the
    files live (a folder, or S3 through the reader cache) is ``storage``'s business."""

    name: str
    version: int | None  # None: an unregistered bundle folder (registry.bundle.read_bundle)
    path: Path  # local files (the version folder, or the reader cache of a remote version)
    meta: dict
    storage: Any = field(default=None, repr=False, compare=False)  # LocalFiles or s3.RemoteFiles

    def __post_init__(self) -> None:
        if self.storage is None:
            self.storage = LocalFiles(Path(self.path))

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}" if self.version is not None else self.name

    @property
    def location(self) -> str:
        """Where the version is stored, for people: a folder or an s3:// URL."""
        return self.storage.location

    def _checked(self, name: str) -> str:
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise RegistryError(f"{self.ref}: file name {quoted(name)} points outside the version")
        return name

    def has(self, name: str) -> bool:
        return self.storage.has(self._checked(name))

    def file(self, name: str) -> Path:
        """A local path to the file ``name`` (to hand to onnxruntime, tokenizers, ...); a
        remote version's file is fetched into the reader cache and checked first."""
        if not self.has(name):
            raise RegistryError(f"{self.ref} has no file {quoted(name)} (looked at {self.location})")
        return self.storage.fetch(name)

    def size(self, name: str) -> int:
        if not self.has(name):
            raise RegistryError(f"{self.ref} has no file {quoted(name)} (looked at {self.location})")
        return int(self.storage.size(name))

    def files(self) -> dict[str, int]:
        """The version's own files (not tags or attachments): {relative path: bytes}."""
        return self.storage.listing_sizes()

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

    def attachment(self, name: str) -> dict | None:
        return self.storage.attachment(self._checked(name))

    def attachments(self) -> list[str]:
        return self.storage.attachments()

    @property
    def tags(self) -> dict[str, str]:
        return self.storage.tags()


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
