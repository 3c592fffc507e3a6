"""Servables: the one engine x variant x precision table, and the one resolver.

A *servable* is what a version serves with: an engine, a variant and the precision it computes
in. The table below is the only place that names them; the config ``Literal``s, canvas choices
and CLI help are checked against it (tests/unit/test_runtime_names.py), and every caller that
needs "which file does this engine run for this variant" asks ``resolve``.

model.json keeps its own (older) names: ``variants`` maps onnxruntime's files (``int8`` there is
the *dynamic* int8 file), ``openvino`` maps OpenVINO's portable files. A version exported before
the OpenVINO engine has no ``openvino`` table; one without ``variants`` has fp32 as model.onnx.

Variant names a user types: ``fp32`` (fp32 everywhere), ``bf16`` (OpenVINO on the portable fp32
file with the bf16 precision hint; only where the CPU computes bf16), ``int8-static`` (QDQ),
``int8-nncf``, ``int8-dynamic`` (activations quantized per batch: a text's label can depend on
its batch-mates; served only when asked for by name) and ``int8``, an alias for the engine's
batch-invariant int8 (onnxruntime: static, else NNCF; OpenVINO: NNCF, else static).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlops_dl.errors import MlopsError, RegistryError
from mlops_dl.machine import cpu_has_bf16
from mlops_dl.registry.layout import ONNX_FILES as FILES
from mlops_dl.registry.layout import ORT_KEYS  # noqa: F401 (model.json "variants" keys)

if TYPE_CHECKING:
    from mlops_dl.registry import ModelVersion

ENGINES = ("onnxruntime", "openvino")
PROVIDERS = ("auto", "cpu", "cuda")
PRECISIONS = ("fp32", "bf16", "int8")
VARIANTS = ("int8", "fp32", "bf16", "int8-static", "int8-nncf", "int8-dynamic")
INT8_ALIAS = {"onnxruntime": ("int8-static", "int8-nncf"), "openvino": ("int8-nncf", "int8-static")}
BATCH_VARIES = ("per-batch activation scales: a text's label can change with the texts it is "
                "batched with")


@dataclass(frozen=True)
class Spec:
    """One row of the table: ``engine`` runs ``variant`` in ``precision`` from model.json
    ``table[key]``."""

    engine: str
    variant: str
    precision: str
    table: str  # "variants" (onnxruntime's files) or "openvino" (portable files)
    key: str
    batch_invariant: bool = True


SPECS = (
    Spec("onnxruntime", "fp32", "fp32", "variants", "fp32"),
    Spec("onnxruntime", "int8-static", "int8", "variants", "int8-static"),
    Spec("onnxruntime", "int8-nncf", "int8", "variants", "int8-nncf"),
    Spec("onnxruntime", "int8-dynamic", "int8", "variants", "int8", batch_invariant=False),
    Spec("openvino", "fp32", "fp32", "openvino", "fp32"),
    Spec("openvino", "bf16", "bf16", "openvino", "fp32"),
    Spec("openvino", "int8-nncf", "int8", "openvino", "int8-nncf"),
    Spec("openvino", "int8-static", "int8", "openvino", "int8-static"),
)


@dataclass(frozen=True)
class Servable:
    """A resolved servable of one version: the spec and the version's file for it."""

    engine: str
    variant: str
    precision: str
    file: str  # the ONNX file name inside the version
    batch_invariant: bool = True

    @property
    def key(self) -> str:
        """'engine:variant', the id used in bench.json, acceptance.json and the choice."""
        return f"{self.engine}:{self.variant}"

    @property
    def label(self) -> str:
        """For people: 'onnxruntime int8-static (int8)'."""
        return f"{self.engine} {self.variant} ({self.precision})"

    def as_dict(self) -> dict:
        return {"engine": self.engine, "variant": self.variant, "precision": self.precision,
                "file": self.file, "batch_invariant": self.batch_invariant}


def spec(engine: str, variant: str) -> Spec | None:
    return next((s for s in SPECS if (s.engine, s.variant) == (engine, variant)), None)


def check_choice(engine: str, variant: str, provider: str = "auto") -> None:
    """Refuse an unknown engine, variant or provider (``auto`` is resolved by runtime.auto)."""
    if engine not in (*ENGINES, "auto"):
        raise MlopsError(f"engine {engine!r}: expected one of {', '.join(ENGINES)} or auto")
    if variant not in (*VARIANTS, "auto"):
        raise MlopsError(f"variant {variant!r}: expected one of {', '.join(VARIANTS)} or auto")
    if provider not in PROVIDERS:
        raise MlopsError(f"provider {provider!r}: expected one of {', '.join(PROVIDERS)}")


def ref_of(mv: "ModelVersion") -> str:
    return mv.ref if mv.version is not None else mv.location


def _file_table(meta: dict, table: str) -> dict[str, str]:
    if table == "openvino":
        return dict(meta.get("openvino") or {})
    return dict(meta.get("variants") or {"fp32": FILES["fp32"]})


def unavailable_reason(mv: "ModelVersion", engine: str) -> str:
    """Why ``engine`` has nothing to run in this version ("" when it has a table)."""
    if engine == "openvino" and not mv.meta.get("openvino"):
        return (f"{ref_of(mv)} was exported before the OpenVINO engine existed (no portable ONNX "
                f"in it); re-export its run to add one: mlops-dl export "
                f"{mv.meta.get('source_run', 'RUN_DIR')} (runs/<id>)")
    return ""


def held(mv: "ModelVersion", engine: str | None = None) -> list[Servable]:
    """Every servable whose file the version holds (of ``engine``, or of all engines)."""
    out = []
    for s in SPECS:
        if engine not in (None, s.engine):
            continue
        name = _file_table(mv.meta, s.table).get(s.key)
        if name and mv.has(name):
            out.append(Servable(s.engine, s.variant, s.precision, name, s.batch_invariant))
    return out


def why_not_here(servable: Servable) -> str:
    """Why this machine cannot run ``servable`` ("" when it can; the engine's install aside)."""
    if servable.precision == "bf16" and not cpu_has_bf16():
        return "bf16 needs a CPU with AMX or AVX512-BF16; this one has neither"
    return ""


def resolve(mv: "ModelVersion", engine: str, variant: str) -> Servable:
    """The servable ``engine`` runs for ``variant`` (``int8`` = its batch-invariant int8); a
    clear RegistryError naming what the version has when it lacks it. Never a fallback."""
    check_choice(engine, variant)
    if "auto" in (engine, variant):
        raise MlopsError("resolve() takes a concrete engine and variant; auto goes through "
                         "runtime.auto.choose")
    why = unavailable_reason(mv, engine)
    if why:
        raise RegistryError(why)
    have = {s.variant: s for s in held(mv, engine)}
    names = INT8_ALIAS[engine] if variant == "int8" else (variant,)
    if variant == "int8" and is_legacy(mv):
        names = ("int8-dynamic",)  # its only int8; flagged as varying with the batch
    for name in names:
        if name in have:
            return have[name]
    listed = ", ".join(have) or "none"
    flag = "--variant" if engine == "onnxruntime" else f"--engine {engine} --variant"
    wanted = (f"batch-invariant int8 variant ({' or '.join(names)}; int8-dynamic is served "
              f"only by name)" if variant == "int8" else f"{variant!r} variant")
    raise RegistryError(f"{ref_of(mv)}: no {wanted} for {engine} (has: {listed}); "
                        f"choose one, e.g. {flag} {next(iter(have), 'fp32')}")


def is_legacy(mv: "ModelVersion") -> bool:
    """Exported before batch-invariant int8 and OpenVINO existed (model.json: fp32 and the
    dynamic int8 only): there ``int8`` still means the dynamic file, so old registries serve
    with their old settings; the Predictor says its labels vary with the batch."""
    return not mv.meta.get("openvino") and not set(_file_table(mv.meta, "variants")) - {"fp32", "int8"}


def legacy(engine: str, variant: str) -> str:
    """A variant name as written by code before servables: onnxruntime's ``int8`` was the
    dynamic file; OpenVINO's ``int8`` was its NNCF-else-static int8 (kept as the alias)."""
    return "int8-dynamic" if (engine, variant) == ("onnxruntime", "int8") else variant
