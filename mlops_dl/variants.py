"""Engines x variants: which ONNX file of a model version each inference engine runs.

model.json ``variants`` maps onnxruntime's variants to files (fused fp32, dynamic int8,
static QDQ int8); model.json ``openvino`` maps OpenVINO's variants to portable files (the
unfused fp32 export, the QDQ int8 and the NNCF int8). A version exported before the OpenVINO
engine existed has no ``openvino`` table.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mlops_dl.errors import MlopsError, RegistryError

if TYPE_CHECKING:
    from mlops_dl.registry import ModelVersion

ENGINES = ("onnxruntime", "openvino")
VARIANTS = ("int8", "fp32", "int8-static", "int8-nncf")
FILES = {"fp32": "model.onnx", "int8": "model.int8.onnx", "int8-static": "model.int8-static.onnx",
         "int8-nncf": "model.int8-nncf.onnx", "fp32-plain": "model.plain.onnx"}
# the GEMM compute type each variant runs in (for the achieved fraction of the machine's peak)
COMPUTE = {"fp32": "fp32", "int8": "int8", "int8-static": "int8", "int8-nncf": "int8"}


def check_choice(engine: str, variant: str) -> None:
    """Refuse an unknown engine or variant (``auto`` is resolved by mlops_dl.choice)."""
    if engine not in (*ENGINES, "auto"):
        raise MlopsError(f"engine {engine!r}: expected one of {', '.join(ENGINES)} or auto")
    if variant not in (*VARIANTS, "auto"):
        raise MlopsError(f"variant {variant!r}: expected one of {', '.join(VARIANTS)} or auto")


def table(meta: dict, engine: str) -> dict[str, str]:
    """{variant: file name} for ``engine`` as the version's model.json records it."""
    if engine == "openvino":  # "int8" there = NNCF int8, else the static QDQ int8
        files = dict(meta.get("openvino") or {})
        int8 = files.get("int8-nncf") or files.get("int8-static")
        return {**files, "int8": int8} if int8 and "int8" not in files else files
    return dict(meta.get("variants") or {"fp32": FILES["fp32"]})  # as ModelVersion.variant_name


def available(mv: "ModelVersion", engine: str, distinct: bool = False) -> list[str]:
    """The variants of ``engine`` whose files the version holds (``distinct``: one name per
    file, so an alias such as OpenVINO's int8 is not listed twice)."""
    seen, out = set(), []
    for variant, name in table(mv.meta, engine).items():
        if mv.has(name) and not (distinct and name in seen):
            seen.add(name)
            out.append(variant)
    return out


def unavailable_reason(meta: dict, engine: str, ref: str) -> str:
    """Why ``engine`` has nothing to run in this version ("" when it has a table)."""
    if engine == "openvino" and not meta.get("openvino"):
        return (f"{ref} was exported before the OpenVINO engine existed (no portable ONNX in "
                f"it); re-export its run to add one: mlops-dl export "
                f"{meta.get('source_run', 'RUN_DIR')} (runs/<id>)")
    return ""


def ref_of(mv: "ModelVersion") -> str:
    return mv.ref if mv.version is not None else mv.location


def resolve(mv: "ModelVersion", engine: str, variant: str) -> Path:
    """The file ``engine`` runs for ``variant``; a clear RegistryError when there is none."""
    check_choice(engine, variant)
    ref = ref_of(mv)
    why = unavailable_reason(mv.meta, engine, ref)
    if why:
        raise RegistryError(why)
    files = table(mv.meta, engine)
    if variant not in files or not mv.has(files[variant]):
        have = ", ".join(available(mv, engine)) or "none"
        flag = "--variant" if engine == "onnxruntime" else f"--engine {engine} --variant"
        raise RegistryError(
            f"{ref}: no {variant!r} variant for {engine} (available: {have}); choose another, "
            f"e.g. {flag} {have.split(', ')[0]} or --set serve.variant=..."
        )
    return mv.file(files[variant])
