"""The S3 backend: a registry in ``s3://bucket/prefix`` that never renames and never locks.

Keys under the prefix, per model (registry/README.md):
  <name>/data/<upload-id>/<file>     a version's files, uploaded first; no reader lists them
  <name>/versions/<N>.json           the manifest (meta, files with sha256 and size, first
                                     attachments); created with If-None-Match: * it claims N,
                                     and a version exists exactly when its manifest does
  <name>/deleted/<N>                 N was deleted (numbers are never reused)
  <name>/aliases/<alias>.json        {"version", "history"}: moved by If-Match compare-and-swap
  <name>/tags/<N>/<key>, <name>/attachments/<N>/<file>, <name>/promotions/<time>-<id>.json
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from pathlib import Path

from mlops_dl import files
from mlops_dl.errors import RegistryError, quoted
from mlops_dl.registry import cache, integrity, layout, staging
from mlops_dl.registry import s3client as s3
from mlops_dl.registry.bundle import fill_stage
from mlops_dl.registry.refs import (check_alias, check_attachment, check_name, is_ascii_number,
                                    is_valid_name, parse_ref)
from mlops_dl.registry.store import Registry, check_registration, move_record
from mlops_dl.registry.version import ModelVersion

MANIFEST_FORMAT = "mlops-dl/s3-version/1"


class S3Registry(Registry):
    """A registry in an S3-compatible bucket (conditional writes required)."""

    def __init__(self, root: str, cache_dir: str | Path | None = None):
        self.root = root  # resolved by registry.factory.open_registry
        self.objects = s3.Objects(self.root)
        self.bucket, self.prefix = self.objects.bucket, self.objects.prefix
        self.cache_dir = cache_dir
        self._manifests: dict[tuple[str, int], dict] = {}
        self._alias_docs: dict[str, tuple[str, dict]] = {}  # key -> (etag, doc)

    @property
    def cache(self) -> Path:
        return cache.store_dir(cache.cache_root(self.cache_dir), self.objects.endpoint, self.root)

    def staging_root(self, name: str) -> Path:
        return self.cache / check_name(name)

    def _key(self, name: str, *parts: str) -> str:
        return self.prefix + "/".join([name, *parts])

    def _numbers(self, name: str, folder: str) -> set[int]:
        keys, _ = self.objects.list(self._key(name, folder) + "/")
        stems = (k.rsplit("/", 1)[1].removesuffix(".json") for k in keys)
        return {int(s) for s in stems if is_ascii_number(s) and s[0] != "0"}

    # ------------------------------------------------------------------ write
    def register(self, name: str, bundle_dir: str | Path, metadata: dict | None = None,
                 attachments: dict[str, dict] | None = None) -> ModelVersion:
        """Upload the files under a fresh upload id, then claim the next number with the
        manifest (If-None-Match: *); a lost claim takes the next number."""
        bundle = check_registration(name, bundle_dir, attachments)
        self.objects.check_conditional_writes()
        upload = uuid.uuid4().hex
        with staging.scratch(self.staging_root(name)) as tmp:  # killed: cleaned there
            stage = tmp / "stage"
            stage.mkdir()
            fill_stage(stage, bundle, name, metadata or {}, {})
            listing = json.loads((stage / layout.CHECKSUMS).read_text(encoding="utf-8"))["files"]
            for rel in (layout.CHECKSUMS, layout.SIGNATURE):  # model.sig: only when signed
                if (stage / rel).is_file():
                    listing[rel] = {"sha256": files.sha256_file(stage / rel),
                                    "bytes": (stage / rel).stat().st_size}
            for rel in listing:  # 1. files first, under keys no reader lists
                with open(stage / rel, "rb") as f:
                    self.objects.call("put_object", Key=self._key(name, "data", upload, rel), Body=f)
            meta = json.loads((stage / layout.MODEL_JSON).read_text(encoding="utf-8"))
        manifest = {"format": MANIFEST_FORMAT, "name": name, "upload": upload, "meta": meta,
                    "files": listing, "attachments": attachments or {}}
        taken = self._numbers(name, "versions") | self._numbers(name, "deleted")
        state = {"n": max(taken, default=0) + 1}

        def claim() -> int:  # 2. the manifest claims the number; 412 -> someone took it
            try:
                self.objects.put_json(self._key(name, "versions", f"{state['n']}.json"),
                               {**manifest, "version": state["n"]}, IfNoneMatch="*")
            except s3.Conflict:
                state["n"] += 1
                raise
            return state["n"]

        version = s3.with_retries(claim, f"registering {name} in {self.root}", base_s=0.005)
        self._manifests[(name, version)] = {**manifest, "version": version}
        return self._version(name, version, verify=False)

    def _alias_doc(self, name: str, alias: str, fresh: bool) -> tuple[str | None, dict | None]:
        """(etag, {"version", "history"}) of the alias object; a poll re-reads only on change."""
        key = self._key(name, layout.ALIASES, f"{alias}.json")
        cached = self._alias_docs.get(key)
        kw = {"IfNoneMatch": cached[0]} if cached and not fresh else {}
        try:
            obj = self.objects.call("get_object", Key=key, **kw)
        except s3.NotModified:
            return cached
        except FileNotFoundError:
            self._alias_docs.pop(key, None)
            return None, None
        doc = s3.loads(obj["Body"].read(), f"{self.root}: {key}")
        self._alias_docs[key] = (obj["ETag"], doc)
        return obj["ETag"], doc

    def _set_alias(self, name: str, alias: str, version: int | None, record: dict,
                   expect: int | None = None) -> int | None:
        """Read the alias, append the move to its history, write it back If-Match (CAS)."""
        self.objects.check_conditional_writes()
        if version is not None and version not in self._versions(name):
            raise RegistryError(f"{name}:{version} does not exist (deleted meanwhile?)")
        key = self._key(name, layout.ALIASES, f"{alias}.json")
        result = {}

        def attempt() -> int | None:
            etag, doc = self._alias_doc(name, alias, fresh=True)
            before = (doc or {}).get("version")
            if expect is not None and before != expect:
                raise RegistryError(f"{name}@{alias} moved meanwhile (now {before}, expected "
                                    f"{expect}); look at `registry history` and retry")
            new = {"version": version, "history": [*(doc or {}).get("history", []),
                                                   {**record, "from": before}]}
            cond = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
            self.objects.put_json(key, new, **cond)
            result["before"] = before
            return before

        s3.with_retries(attempt, f"moving {name}@{alias} in {self.root}")
        return result["before"]

    def history(self, name: str, alias: str) -> list[dict]:
        _, doc = self._alias_doc(check_name(name), check_alias(alias), fresh=False)
        return list((doc or {}).get("history", []))

    def set_tag(self, ref: str, key: str, value: str | None) -> ModelVersion:
        check_name(key, "tag key")
        mv = self.get(ref, verify=False)
        obj = self._key(mv.name, layout.TAGS, str(mv.version), key)
        if value is None:
            self.objects.call("delete_object", Key=obj)
        else:
            self.objects.call("put_object", Key=obj, Body=f"{value}\n".encode("utf-8"))
        return mv

    def attach(self, ref: str, filename: str, data: dict) -> str:
        check_attachment(filename)
        mv = self.get(ref, verify=False)
        key = self._key(mv.name, layout.ATTACHMENTS, str(mv.version), filename)
        self.objects.put_json(key, data)
        return f"s3://{self.bucket}/{key}"

    def delete(self, ref: str, force: bool = False) -> ModelVersion:
        parsed = parse_ref(ref)
        if parsed.version is None:
            raise RegistryError(f"delete needs an explicit version such as {parsed.name}:1, not {quoted(ref)}")
        mv = self.get(ref, verify=False)
        pointing = [a for a, v in self.aliases(mv.name).items() if v == mv.version]
        if pointing and not force:
            raise RegistryError(f"{mv.ref} is the target of alias(es) {', '.join(pointing)}; promote "
                                f"another version first or pass --force to remove the alias(es) too")
        for alias in pointing:
            self._set_alias(mv.name, alias, None, move_record(alias, None, "remove", f"{mv.ref} deleted"))
        self.objects.call("put_object", Key=self._key(mv.name, "deleted", str(mv.version)), Body=b"")
        self.objects.call("delete_object", Key=self._key(mv.name, "versions", f"{mv.version}.json"))
        upload = self._manifest(mv.name, mv.version)["upload"]
        for folder in (f"data/{upload}", f"{layout.TAGS}/{mv.version}",
                       f"{layout.ATTACHMENTS}/{mv.version}"):
            for key in self.objects.list(self._key(mv.name, folder) + "/")[0]:
                self.objects.call("delete_object", Key=key)
        return mv

    def append_audit(self, name: str, record: dict) -> None:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        key = self._key(check_name(name), "promotions", f"{stamp}-{uuid.uuid4().hex[:8]}.json")
        self.objects.put_json(key, record, IfNoneMatch="*")

    def read_audit(self, name: str) -> list[dict]:
        keys, _ = self.objects.list(self._key(check_name(name), "promotions") + "/")
        return [self.objects.get_json(k) or {} for k in sorted(keys)]

    # ------------------------------------------------------------------ read
    def _manifest(self, name: str, version: int) -> dict:
        """The version's manifest: memory, else the reader cache, else the store (immutable)."""
        if (name, version) in self._manifests:
            return self._manifests[(name, version)]
        local = self.cache / name / str(version) / "manifest.json"
        doc = s3.loads(local.read_bytes(), str(local)) if local.is_file() else None
        if doc is None:
            doc = self.objects.get_json(self._key(name, "versions", f"{version}.json"))
            if doc is None:
                raise RegistryError(f"{name} has no version {version} in {self.root}")
            files.write_json(local, doc)
        self._manifests[(name, version)] = doc
        return doc

    def _version(self, name: str, version: int, verify: bool) -> ModelVersion:
        manifest = self._manifest(name, version)
        remote = RemoteFiles(self, name, version, manifest)
        mv = ModelVersion(name, version, remote.folder, manifest["meta"], remote)
        if verify:
            for rel in manifest["files"]:
                remote.fetch(rel)
            problem = _disagreement(mv, manifest)
            if problem:
                raise RegistryError(f"{mv.ref} ({mv.location}) failed verification and will not "
                                    f"be used: {problem}")
        return mv

    def _problems(self, name: str, version: int) -> list[str]:
        """Every object of the version re-read from the store against its manifest."""
        manifest = self._manifest(name, version)
        problems = []
        for rel, want in sorted(manifest["files"].items()):
            try:
                body = self.objects.call("get_object", Key=self._key(name, "data", manifest["upload"], rel))["Body"]
            except FileNotFoundError:
                problems.append(f"{rel}: missing")
                continue
            data = body.read()
            if len(data) != want["bytes"]:
                problems.append(f"{rel}: {len(data)} bytes, recorded {want['bytes']} (truncated or changed)")
            elif files.sha256_bytes(data) != want["sha256"]:
                problems.append(f"{rel}: sha256 differs from the recorded checksum (modified)")
        prefix = self._key(name, "data", manifest["upload"]) + "/"
        for key in self.objects.list(prefix)[0]:
            if key[len(prefix):] not in manifest["files"]:
                problems.append(f"{key[len(prefix):]}: not in the manifest (object added after registration)")
        if not problems:  # the objects are as recorded: is the record trusted (model.sig)?
            try:
                self._version(name, version, verify=True)
            except RegistryError as e:
                problems.append(str(e))
        return problems

    def _versions(self, name: str) -> list[int]:
        check_name(name)
        return sorted(self._numbers(name, "versions") - self._numbers(name, "deleted"))

    def list_models(self) -> list[str]:
        _, prefixes = self.objects.list(self.prefix, delimiter="/")
        names = [p[len(self.prefix):].rstrip("/") for p in prefixes]
        return sorted(n for n in names if is_valid_name(n) and self._versions(n))

    def aliases(self, name: str) -> dict[str, int]:
        keys, _ = self.objects.list(self._key(check_name(name), layout.ALIASES) + "/")
        out = {}
        for key in sorted(keys):
            alias = key.rsplit("/", 1)[1].removesuffix(".json")
            if is_valid_name(alias) and (target := self.alias_target(name, alias)) is not None:
                out[alias] = target
        return out

    def alias_target(self, name: str, alias: str) -> int | None:
        _, doc = self._alias_doc(check_name(name), check_name(alias, "alias"), fresh=False)
        version = (doc or {}).get("version")
        return int(version) if version is not None else None


class RemoteFiles:
    """The files of one S3 version as ModelVersion reads them: fetched into the reader cache."""

    def __init__(self, registry: S3Registry, name: str, version: int, manifest: dict):
        self.registry, self.name, self.version, self.manifest = registry, name, version, manifest
        self.listing: dict[str, dict] = manifest["files"]
        self.folder = registry.cache / name / str(version) / "files"
        self.location = f"{registry.root.rstrip('/')}/{name}:{version}"

    def has(self, rel: str) -> bool:
        return rel in self.listing

    def size(self, rel: str) -> int:
        return int(self.listing[rel]["bytes"])

    def listing_sizes(self) -> dict[str, int]:
        return {rel: int(f["bytes"]) for rel, f in sorted(self.listing.items())}

    def fetch(self, rel: str) -> Path:
        want = self.listing[rel]
        key = self.registry._key(self.name, "data", self.manifest["upload"], rel)

        def chunks():
            body = self.registry.objects.call("get_object", Key=key)["Body"]
            yield from body.iter_chunks(1 << 20)

        label = f"{self.name}:{self.version} file {rel} ({self.location})"
        return cache.fetch(self.folder / rel, want["sha256"], int(want["bytes"]), chunks, label)

    def attachment(self, filename: str) -> dict | None:
        key = self.registry._key(self.name, layout.ATTACHMENTS, str(self.version), filename)
        doc = self.registry.objects.get_json(key)
        return doc if doc is not None else self.manifest.get("attachments", {}).get(filename)

    def attachments(self) -> list[str]:
        keys, _ = self.registry.objects.list(
            self.registry._key(self.name, layout.ATTACHMENTS, str(self.version)) + "/")
        return sorted({k.rsplit("/", 1)[1] for k in keys} | set(self.manifest.get("attachments", {})))

    def tags(self) -> dict[str, str]:
        prefix = self.registry._key(self.name, layout.TAGS, str(self.version)) + "/"
        out = {}
        for key in sorted(self.registry.objects.list(prefix)[0]):
            body = self.registry.objects.call("get_object", Key=key)["Body"].read()
            out[key[len(prefix):]] = body.decode("utf-8").rstrip("\n")
        return out


def _disagreement(mv: ModelVersion, manifest: dict) -> str | None:
    """Why the manifest disagrees with the version's own model.json / checksums.json (and,
    with a verifying key, the version's model.sig; legacy: the HMAC); None when they agree."""
    if s3.loads(mv.file(layout.MODEL_JSON).read_bytes(), layout.MODEL_JSON) != manifest["meta"]:
        return f"the manifest's meta differs from {layout.MODEL_JSON} (manifest rewritten)"
    doc = s3.loads(mv.file(layout.CHECKSUMS).read_bytes(), layout.CHECKSUMS)
    listed = {rel: w for rel, w in manifest["files"].items()
              if rel not in (layout.CHECKSUMS, layout.SIGNATURE)}
    if listed != doc.get("files"):
        return f"the manifest's file list differs from {layout.CHECKSUMS} (manifest rewritten)"
    problems = integrity.trust_problems(doc, mv.path, only_signed_files=True)  # model.sig
    return "; ".join(problems) or None
