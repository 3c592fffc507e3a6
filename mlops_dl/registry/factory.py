"""Opening a registry: the root resolved once, then the backend it names."""

from __future__ import annotations

from pathlib import Path

from mlops_dl.registry.root import is_remote, resolve_root
from mlops_dl.registry.store import Registry


def open_registry(root: "Registry | str | Path | None" = None,
                  cache_dir: str | Path | None = None) -> Registry:
    """``root`` if it is a Registry already, else the registry at ``resolve_root(root)``
    (``--registry`` > ``$MLOPS_DL_REGISTRY`` > mlops-dl.yaml / pyproject > ``./registry``):
    a local folder, or ``s3://bucket/prefix`` (the ``s3`` extra)."""
    if isinstance(root, Registry):
        return root
    resolved = resolve_root(root)
    if is_remote(resolved):
        from mlops_dl.registry.s3 import S3Registry

        return S3Registry(resolved, cache_dir)
    from mlops_dl.registry.local import LocalRegistry

    return LocalRegistry(resolved, cache_dir)
