"""The acceptance record (attachment ``acceptance.json``): one owner for its format.

Written by ``gates.accept``; read by ``runtime.auto`` (``auto`` chooses among accepted
servables), ``gates.promote`` and the UI. Schema ``mlops-dl/acceptance/2``: one entry per
servable ("engine:variant") with its precision, checks, metrics and test predictions, plus the
canvas digest, the test-split fingerprint and the machine it ran on. A record written by older
code (one engine and variant at the top level) reads as the acceptance of that servable only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mlops_dl.registry import layout

SCHEMA = "mlops-dl/acceptance/2"


@dataclass
class Acceptance:
    """A version's acceptance record, read in one shape whatever code wrote it."""

    raw: dict
    servables: dict[str, dict] = field(default_factory=dict)  # "engine:variant" -> result
    legacy: bool = False  # written before per-servable acceptance (one servable)

    @property
    def accepted(self) -> list[str]:
        """The servable keys that passed."""
        return [k for k, r in self.servables.items() if r.get("passed") is True]

    def result(self, key: str) -> dict | None:
        return self.servables.get(key)

    @property
    def fingerprint(self) -> str | None:
        return self.raw.get("test_fingerprint")


def _legacy_key(doc: dict) -> str:
    engine = doc.get("engine") or "onnxruntime"
    variant = str(doc.get("variant") or "int8")
    if (engine, variant) == ("onnxruntime", "int8"):
        variant = "int8-dynamic"  # before servables, onnxruntime's int8 was the dynamic file
    return f"{engine}:{variant}"


def parse(doc: dict | None) -> Acceptance | None:
    """The record from the attachment's JSON (None when there is none or it is not a dict)."""
    if not isinstance(doc, dict):
        return None
    if isinstance(doc.get("servables"), dict):
        rows = {str(k): v for k, v in doc["servables"].items() if isinstance(v, dict)}
        return Acceptance(doc, rows)
    row = {k: doc.get(k) for k in ("engine", "variant", "passed", "checks", "behaviour",
                                    "metrics", "test_predictions")}
    return Acceptance(doc, {_legacy_key(doc): row}, legacy=True)


def read(mv) -> Acceptance | None:
    """``mv``'s acceptance record, or None."""
    return parse(mv.attachment(layout.ACCEPTANCE))
