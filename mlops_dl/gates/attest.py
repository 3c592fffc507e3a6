"""Acceptance as a signed attestation: what `promote` may trust in an acceptance.json.

`accept` (with $MLOPS_DL_MODEL_SIGNING_KEY set) adds an in-toto Statement in a DSSE envelope
(registry.signing) whose subject is the version's content (the sha256 of its files' checksums,
model.json aside: a copy rewrites it) and whose predicate binds the canvas digest, the test-split
fingerprint and the digest of every servable's result (checks, metrics, predictions).
`promote` trusts stored results only when that envelope verifies under
$MLOPS_DL_MODEL_VERIFY_KEY and every binding holds; a forged or edited file is refused, naming
what failed. Without a verifying key nothing stored is trusted: promote scores again.
"""

from __future__ import annotations

import hashlib
import json
import os

from mlops_dl.errors import RegistryError
from mlops_dl.registry import layout, signing

PREDICATE = "https://mlops-dl.dev/attestations/acceptance/v2"


def _digest(doc) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":"),
                                     default=str).encode("utf-8")).hexdigest()


def content_digest(mv) -> str:
    """sha256 of the version's file checksums (model.json left out: `registry copy` records
    where the copy came from in it)."""
    files = (mv.read_json(layout.CHECKSUMS) or {}).get("files") or {}
    return _digest({rel: f.get("sha256") for rel, f in files.items() if rel != layout.MODEL_JSON})


def _bindings(mv, result: dict) -> dict:
    return {"canvas_sha256": result.get("canvas_sha256"),
            "test_fingerprint": result.get("test_fingerprint"),
            "servables_sha256": _digest(result.get("servables") or {}),
            "accepted": sorted(result.get("accepted") or []), "passed": result.get("passed")}


def attest(mv, result: dict) -> dict | None:
    """The signed envelope for an acceptance ``result`` (None when no signing key is set)."""
    if not signing.signs() or os.environ.get(signing.PRIVATE_KEY_ENV) == signing.KEYLESS:
        return None
    doc = signing.statement(mv.ref, content_digest(mv), PREDICATE, _bindings(mv, result))
    return signing.sign_statement(doc)


def trusted(mv, record) -> tuple[bool, str]:
    """(True, "") when ``record``'s attestation verifies and binds this version and these
    results; else (False, why). Never trusted without a verifying key."""
    if not signing.verifies():
        return False, f"no verifying key (${signing.PUBLIC_KEY_ENV}) is configured"
    envelope = record.raw.get("attestation")
    if envelope is None:
        return False, f"{mv.ref} acceptance.json carries no signed attestation"
    try:
        doc = signing.verify_statement(envelope, f"{mv.ref} acceptance attestation")
    except RegistryError as e:
        return False, str(e)
    subject = ((doc.get("subject") or [{}])[0].get("digest") or {}).get("sha256")
    if doc.get("predicateType") != PREDICATE:
        return False, f"{mv.ref} attestation is not an acceptance ({doc.get('predicateType')})"
    if subject != content_digest(mv):
        return False, f"{mv.ref} attestation was made for other files (subject digest differs)"
    if doc.get("predicate") != _bindings(mv, record.raw):
        return False, (f"{mv.ref} acceptance.json was edited after it was signed (its results, "
                       f"canvas or test split differ from the attestation)")
    return True, ""
