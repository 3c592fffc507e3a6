"""Loading a Predictor: resolve ``auto`` first (runtime.auto), then build one (runtime.predictor).

    pred = from_registry("sentiment@production", variant="int8")     # verified checksums
    pred = from_version(mv, engine="auto", variant="auto")           # a ModelVersion
    pred = from_dir("bundle/")                                       # an unregistered bundle

Each Predictor knows whether its servable was accepted (``pred.accepted``: True, False, or None
when the version has no acceptance record); an explicitly named unaccepted servable loads, with
a warning in the log and in ``describe()`` (so /readyz shows it).
"""

from __future__ import annotations

import gc
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_dl.config import ServeConfig
from mlops_dl.errors import MlopsError
from mlops_dl.registry import acceptance
from mlops_dl.runtime import auto
from mlops_dl.runtime import variants as V
from mlops_dl.runtime.predictor import Predictor, build

if TYPE_CHECKING:
    from mlops_dl.registry import ModelVersion, Registry

log = logging.getLogger("mlops_dl.runtime")


def servable_for(mv: "ModelVersion", engine: str, variant: str, provider: str = "auto",
                 settings: ServeConfig | None = None, purpose: str = "throughput",
                 budget_ms: float | None = None) -> tuple[V.Servable, dict | None]:
    """The servable ``engine``/``variant`` mean for ``mv`` here, and the auto choice (or None).
    The one answer to "what will this serve?" for serve, predict, accept, promote and bench;
    ``purpose``: latency (serve, within ``budget_ms`` at batch-1 p95) or throughput (files)."""
    V.check_choice(engine, variant, provider)
    if "auto" in (engine, variant):
        choice = auto.choose(mv, engine, variant, provider, settings or ServeConfig(), purpose,
                             budget_ms)
        return V.resolve(mv, choice["engine"], choice["variant"]), choice
    if engine == "openvino" and not V.unavailable_reason(mv, engine):
        why = auto.openvino_missing()
        if why:
            raise MlopsError(why)
    servable = V.resolve(mv, engine, variant)
    why = V.why_not_here(servable)
    if why:
        raise MlopsError(f"{V.ref_of(mv)}: {servable.label} cannot run here: {why}")
    return servable, None


def acceptance_warning(mv: "ModelVersion", servable: V.Servable) -> tuple[bool | None, str]:
    """(accepted?, warning) for ``servable`` from the version's acceptance record."""
    record = acceptance.read(mv)
    if record is None:
        return None, f"{V.ref_of(mv)} has no acceptance record: run `mlops-dl accept`"
    if servable.key in record.accepted:
        return True, ""
    done = record.result(servable.key)
    state = "failed acceptance" if done else "was not evaluated by acceptance"
    have = ", ".join(record.accepted) or "none"
    return False, f"{servable.label} {state} (accepted servables: {have})"


def from_version(mv: "ModelVersion", provider: str = "auto", variant: str = "int8",
                 settings: ServeConfig | None = None,
                 engine: str = "onnxruntime", *, purpose: str = "throughput",
                 budget_ms: float | None = None) -> Predictor:
    """A Predictor for a registered version (its files through ``mv.file``); ``purpose`` and
    ``budget_ms`` steer an ``auto`` choice (runtime.criteria)."""
    settings = settings or ServeConfig()
    servable, choice = servable_for(mv, engine, variant, provider, settings, purpose, budget_ms)
    pred = build(mv, servable, provider, settings, choice)
    pred.accepted, warning = acceptance_warning(mv, servable)
    if warning:
        pred.warnings.append(warning)
        log.warning("%s: %s", V.ref_of(mv), warning)
    if not servable.batch_invariant:
        log.warning("%s %s: %s", V.ref_of(mv), servable.label, V.BATCH_VARIES)
    return pred


def from_registry(ref: str, registry: "Registry | str | Path | None" = None,
                  provider: str = "auto", variant: str = "int8",
                  settings: ServeConfig | None = None, engine: str = "onnxruntime",
                  **choose) -> Predictor:
    """Load ``ref`` ("name", "name:3", "name@production") after verifying its checksums;
    ``choose``: purpose / budget_ms for an ``auto`` choice."""
    from mlops_dl.registry import open_registry

    mv = open_registry(registry).get(ref, verify=True)
    return from_version(mv, provider, variant, settings, engine, **choose)


def from_dir(path: str | Path, provider: str = "auto", variant: str = "int8",
             settings: ServeConfig | None = None, *, name: str | None = None,
             version: int | None = None, engine: str = "onnxruntime", **choose) -> Predictor:
    """Load a bundle folder (model.json, tokenizer.json, ONNX variants), unregistered."""
    from mlops_dl.registry.bundle import read_bundle

    return from_version(read_bundle(path, name=name, version=version), provider, variant,
                        settings, engine, **choose)


def freeze_heap() -> None:
    """Move every object alive now (modules, the model, the app) out of the garbage collector's
    generations: a full collection then walks only what requests allocate. Measured on the
    serve process (64k tracked objects after start-up): a gen-2 collection took 280-300 ms on
    the shared 2-core machine, 0.002 ms after this; one landing in a request was its tail."""
    gc.collect()
    gc.freeze()
