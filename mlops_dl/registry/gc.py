"""``registry gc``: remove what killed registrations and copies left behind, never a version.

Local: staging and trash dirs under each model folder (and under the registry root) older than
``older_than_s`` whose owner process is not running on this host. S3: upload folders
``<name>/data/<upload>/`` that no manifest (``<name>/versions/N.json``) references and whose
newest object is older than ``older_than_s`` (a registration in flight is younger), plus the
reader cache's staging dirs. A manifest's upload is never touched.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

from mlops_dl.errors import MlopsError, quoted
from mlops_dl.registry import staging
from mlops_dl.registry.store import Registry

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_age(text: str) -> float:
    """'90s', '30m', '1h', '2d' -> seconds (digits 0-9 and one unit; '0s' allowed)."""
    from mlops_dl.numbers import parse_count

    unit = text[-1:] if text else ""
    if unit not in UNITS:
        raise MlopsError(f"--older-than {quoted(text)}: expected a number and a unit "
                         f"(s, m, h, d), e.g. 1h")
    return float(parse_count(text[:-1], "--older-than", max_digits=6) * UNITS[unit])


def collect(registry: Registry, older_than_s: float = 3600.0, dry_run: bool = False) -> list[dict]:
    """Remove (or with ``dry_run`` only list) the leftovers: [{"kind", "where", "bytes"}]."""
    from mlops_dl.registry.s3 import S3Registry

    found = _staging_leftovers(registry, older_than_s)
    if isinstance(registry, S3Registry):
        found += _orphan_uploads(registry, older_than_s)
    if not dry_run:
        for item in found:
            item["remove"]()
    return [{k: v for k, v in item.items() if k != "remove"} for item in found]


def _folders(registry: Registry) -> list[Path]:
    """The folders where this registry stages work: each model's staging root."""
    from mlops_dl.registry.refs import is_valid_name

    base = registry.staging_root("x").parent
    if not base.is_dir():
        return []
    return [base, *(p for p in sorted(base.iterdir()) if p.is_dir() and is_valid_name(p.name))]


def _tree_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _staging_leftovers(registry: Registry, older_than_s: float) -> list[dict]:
    now = time.time()
    out = []
    for folder in _folders(registry):
        for path in staging.leftovers(folder):
            age = staging.age_s(path, now)
            if age is None or age < older_than_s or staging.owner_alive(path):
                continue
            out.append({"kind": "staging", "where": str(path), "bytes": _tree_bytes(path),
                        "remove": lambda p=path: staging.remove_tree(p)})
    return out


def _orphan_uploads(registry, older_than_s: float) -> list[dict]:
    """Upload folders no manifest references, quiet for ``older_than_s``."""
    now = datetime.now(timezone.utc)
    out = []
    for name in _model_prefixes(registry):
        referenced = {registry._manifest(name, v)["upload"]
                      for v in registry._numbers(name, "versions")}
        uploads: dict[str, list[dict]] = {}
        for obj in _objects(registry, registry._key(name, "data") + "/"):
            upload = obj["Key"][len(registry._key(name, "data")) + 1:].split("/", 1)[0]
            uploads.setdefault(upload, []).append(obj)
        for upload, objs in sorted(uploads.items()):
            newest = max(o["LastModified"] for o in objs)
            if upload in referenced or (now - newest).total_seconds() < older_than_s:
                continue
            keys = [o["Key"] for o in objs]
            out.append({"kind": "upload", "bytes": sum(o["Size"] for o in objs),
                        "where": f"s3://{registry.bucket}/{registry._key(name, 'data', upload)}/",
                        "remove": lambda ks=keys: [registry.objects.call("delete_object", Key=k)
                                                   for k in ks]})
    return out


def _model_prefixes(registry) -> list[str]:
    """Every model folder in the bucket, also one whose only version never got a manifest."""
    from mlops_dl.registry.refs import is_valid_name

    _, prefixes = registry.objects.list(registry.prefix, delimiter="/")
    names = (p[len(registry.prefix):].rstrip("/") for p in prefixes)
    return sorted(n for n in names if is_valid_name(n))


def _objects(registry, prefix: str) -> list[dict]:
    """Every object under ``prefix`` with its Key, Size and LastModified."""
    out, token = [], None
    while True:
        kw = {"Prefix": prefix, **({"ContinuationToken": token} if token else {})}
        page = registry.objects.call("list_objects_v2", **kw)
        out += page.get("Contents", [])
        if not page.get("IsTruncated"):
            return out
        token = page["NextContinuationToken"]
