"""The reader cache of remote versions: files fetched once, checked against the manifest's
sha256, and only ever seen whole (downloaded to a temp name, then renamed).

Default folder: ``$MLOPS_DL_CACHE_DIR``, else ``$XDG_CACHE_HOME/mlops-dl/registry``, else
``~/.cache/mlops-dl/registry``; ``--cache-dir`` changes it.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from mlops_dl import files
from mlops_dl.errors import RegistryError

ENV = "MLOPS_DL_CACHE_DIR"
_CHECKED: set[tuple[str, int, int]] = set()  # (path, size, mtime_ns) hashed OK in this process


def cache_root(cache_dir: str | Path | None = None) -> Path:
    if cache_dir:
        return Path(cache_dir).expanduser()
    if os.environ.get(ENV):
        return Path(os.environ[ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mlops-dl" / "registry"


def store_dir(root: Path, endpoint: str, url: str) -> Path:
    """One folder per (endpoint, registry URL): two stores never share cached files."""
    digest = hashlib.sha256(f"{endpoint}|{url}".encode()).hexdigest()[:16]
    bucket = url[len("s3://"):].split("/")[0]
    return root / f"{bucket}-{digest}"


def is_intact(path: Path, sha256: str, size: int) -> bool:
    """The cached file exists with the recorded size and sha256 (hashed once per process)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key in _CHECKED:
        return True
    if st.st_size != size or files.sha256_file(path) != sha256:
        return False
    _CHECKED.add(key)
    return True


def fetch(path: Path, sha256: str, size: int, chunks: Callable[[], Iterator[bytes]],
          label: str) -> Path:
    """``path`` if intact, else downloaded from ``chunks()`` into a temp file, checked, renamed."""
    if is_intact(path, sha256, size):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    tmp = Path(name)
    try:
        h, n = hashlib.sha256(), 0
        with os.fdopen(fd, "wb") as f:
            for block in chunks():
                h.update(block)
                n += len(block)
                f.write(block)
            f.flush()
            os.fsync(f.fileno())
        if n != size or h.hexdigest() != sha256:
            raise RegistryError(
                f"{label} failed verification and will not be used: {n} bytes with sha256 "
                f"{h.hexdigest()[:12]}..., the manifest records {size} bytes, {sha256[:12]}... "
                f"(the object was modified or truncated in the store). Re-register the model or "
                f"restore the object.")
        tmp.chmod(0o444)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
