"""What a bundle may contain and how it becomes a staged version (model.json, checksums)."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

from mlops_dl.errors import RegistryError, clip
from mlops_dl.registry import integrity, signing
from mlops_dl.registry import layout
from mlops_dl.registry.layout import MODEL_JSON

# Formats that can unpickle code on load: the registry refuses them.
UNSAFE_SUFFIXES = {".pkl", ".pickle", ".pt", ".pth", ".bin", ".ckpt", ".joblib", ".npy", ".npz"}


def read_meta(path: Path, strict: bool = True) -> dict:
    try:
        return json.loads((path / MODEL_JSON).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError, RecursionError) as e:  # ValueError: bad JSON too
        if strict:
            raise RegistryError(f"{path / MODEL_JSON}: missing or not valid JSON "
                                f"({clip(str(e))})") from None
        return {}


def read_bundle(path: str | Path, name: str | None = None, version: int | None = None):
    """A bundle folder (model.json, tokenizer.json, ONNX variants) as a ModelVersion."""
    from mlops_dl.registry.version import ModelVersion

    path = Path(path)
    if not (path / MODEL_JSON).is_file():
        raise RegistryError(f"{path}: no {MODEL_JSON} (not a model version directory)")
    meta = read_meta(path)
    return ModelVersion(name or meta.get("name", path.name), version, path, meta)


def fill_stage(stage: Path, bundle: Path, name: str, metadata: dict,
               attachments: dict[str, dict]) -> None:
    """Copy the bundle into ``stage``, write model.json, checksums and the first attachments,
    make the immutable files read-only."""
    for src in sorted(bundle.rglob("*")):
        rel = src.relative_to(bundle)
        if rel.parts[0] in layout.MUTABLE_DIRS or rel.as_posix() in (layout.CHECKSUMS,
                                                                        layout.SIGNATURE):
            continue
        if src.suffix.lower() in UNSAFE_SUFFIXES:
            raise RegistryError(
                f"{src}: the registry stores ONNX, JSON/YAML and tokenizer files only; "
                f"{src.suffix} files may unpickle code and are refused"
            )
        dst = stage / rel
        if src.is_dir():
            dst.mkdir(parents=True, exist_ok=True)
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
    meta = read_meta(bundle, strict=False)
    meta.update(metadata)
    meta["name"] = name
    meta.setdefault("created", datetime.now(timezone.utc).isoformat(timespec="seconds"))
    for key in ("variants", "openvino"):
        for variant, rel in (meta.get(key) or {}).items():
            if not (stage / rel).is_file():
                raise RegistryError(f"bundle {bundle}: {key} {variant!r} file {rel!r} is missing")
    (stage / MODEL_JSON).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    for sub in layout.MUTABLE_DIRS:
        (stage / sub).mkdir(exist_ok=True)
    for filename, data in attachments.items():
        (stage / layout.ATTACHMENTS / filename).write_text(
            json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    integrity.write_checksums(stage)
    signing.sign_version(stage)  # model.sig over every file, checksums.json included
    integrity.make_read_only(stage)
    stage.chmod(0o755)  # mkdtemp made it 0700; readable by all like any other version
