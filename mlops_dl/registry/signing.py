"""Signed versions with OpenSSF model signing (PyPI ``model-signing``), and signed statements.

Where versions are registered, ``$MLOPS_DL_MODEL_SIGNING_KEY`` names a PEM elliptic-curve
private key (P-256/384/521: the key kinds model-signing signs with), or is ``sigstore`` for
keyless signing with ambient OIDC credentials. Registration then writes ``model.sig``, a
Sigstore bundle whose in-toto statement lists the sha256 of every file of the version
(``checksums.json`` included; ``model.sig``, ``attachments/`` and ``tags/`` left out).

Wherever versions are loaded, ``$MLOPS_DL_MODEL_VERIFY_KEY`` names the PEM public key (or
``$MLOPS_DL_SIGSTORE_IDENTITY`` + ``$MLOPS_DL_SIGSTORE_ISSUER`` the keyless signer); every
verified read then refuses a version whose ``model.sig`` is missing or does not verify.
Readers never hold a secret.

``sign_statement`` / ``verify_statement`` sign any JSON statement (an in-toto Statement such
as an acceptance record) as a DSSE envelope with the same key pair.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

from mlops_dl.errors import RegistryError, clip
from mlops_dl.registry.layout import MUTABLE_DIRS, SIGNATURE

PRIVATE_KEY_ENV = "MLOPS_DL_MODEL_SIGNING_KEY"  # PEM private key path, or "sigstore"
PUBLIC_KEY_ENV = "MLOPS_DL_MODEL_VERIFY_KEY"  # PEM public key path
SIGSTORE_IDENTITY_ENV = "MLOPS_DL_SIGSTORE_IDENTITY"  # keyless: the signer's identity (email)
SIGSTORE_ISSUER_ENV = "MLOPS_DL_SIGSTORE_ISSUER"  # keyless: its OIDC issuer URL
KEYLESS = "sigstore"
UNSIGNED = (SIGNATURE, *MUTABLE_DIRS)  # what a version's signature does not cover
IN_TOTO = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"


def signs() -> bool:
    """A signing key (or keyless signing) is configured for registration."""
    return bool(os.environ.get(PRIVATE_KEY_ENV))


def verifies() -> bool:
    """A verifying key (or keyless identity) is configured: signatures are required."""
    return bool(os.environ.get(PUBLIC_KEY_ENV) or os.environ.get(SIGSTORE_IDENTITY_ENV))


def _model_signing():
    try:
        import model_signing
    except ImportError as e:
        raise RegistryError(f"signed versions need OpenSSF model signing: pip install "
                            f"'mlops-dl[signing]' ({e})") from None
    return model_signing


def _hashing():
    hashing = _model_signing().hashing
    return hashing.Config().set_ignored_paths(paths=list(UNSIGNED), ignore_git_paths=False)


def _key_path(env: str) -> Path:
    path = Path(os.environ[env]).expanduser()
    if not path.is_file():
        raise RegistryError(f"${env}={path}: no such key file")
    return path


def sign_version(root: Path) -> Path | None:
    """Write ``root/model.sig`` over every file of the staged version (None: no key set)."""
    if not signs():
        return None
    config = _model_signing().signing.Config().set_hashing_config(_hashing())
    try:
        if os.environ[PRIVATE_KEY_ENV] == KEYLESS:
            config.use_sigstore_signer(use_ambient_credentials=True)
        else:
            config.use_elliptic_key_signer(private_key=_key_path(PRIVATE_KEY_ENV))
        config.sign(root, root / SIGNATURE)
    except (ValueError, TypeError, OSError) as e:  # a bad or non-EC key, an unreadable file
        raise RegistryError(f"signing {root} with ${PRIVATE_KEY_ENV} failed: "
                            f"{type(e).__name__}: {clip(str(e))}") from None
    return root / SIGNATURE


def _verifier():
    config = _model_signing().verifying.Config().set_hashing_config(_hashing())
    if os.environ.get(PUBLIC_KEY_ENV):
        return config.use_elliptic_key_verifier(public_key=_key_path(PUBLIC_KEY_ENV))
    issuer = os.environ.get(SIGSTORE_ISSUER_ENV, "")
    if not issuer:
        raise RegistryError(f"${SIGSTORE_IDENTITY_ENV} is set without ${SIGSTORE_ISSUER_ENV}")
    return config.use_sigstore_verifier(identity=os.environ[SIGSTORE_IDENTITY_ENV],
                                        oidc_issuer=issuer)


def version_problem(root: Path, only_signed_files: bool = False) -> str | None:
    """Why ``root``'s model.sig does not verify under the configured key (None: it does).

    ``only_signed_files``: hash just the files the signature lists (a reader cache, where the
    file set is checked against the manifest instead)."""
    if not (root / SIGNATURE).is_file():
        return (f"{SIGNATURE} is missing but ${PUBLIC_KEY_ENV} is set (registered without "
                f"${PRIVATE_KEY_ENV}, or the signature was removed)")
    try:
        config = _verifier()
        if only_signed_files:
            config.set_ignore_unsigned_files(True)
        config.verify(root, root / SIGNATURE)
    except RegistryError:
        raise
    except Exception as e:  # model-signing raises ValueError, cryptography InvalidSignature, ...
        why = str(e) or type(e).__name__
        return (f"{SIGNATURE} does not verify under ${PUBLIC_KEY_ENV} (files changed after "
                f"signing, or signed with another key): {clip(why, 300)}")
    return None


def public_key_pem() -> bytes | None:
    """The configured verifying key's PEM bytes (None: no key file configured)."""
    return _key_path(PUBLIC_KEY_ENV).read_bytes() if os.environ.get(PUBLIC_KEY_ENV) else None


def subset_problem(folder: Path, names: list[str], public_pem: bytes) -> str | None:
    """Why files ``names`` in ``folder`` (a subset of a version, with its model.sig, as Ray
    actors receive it) do not match the digests model.sig signs under ``public_pem`` (None:
    they do). Public-key verification only (model-signing's key verifier)."""
    from model_signing._signing import sign_ec_key, sign_sigstore_pb

    from mlops_dl.files import sha256_file

    key_file = folder / ".verify-key.pem"
    key_file.write_bytes(public_pem)
    try:
        bundle = sign_sigstore_pb.Signature.read(folder / SIGNATURE)
        signed = sign_ec_key.Verifier(key_file).verify(bundle)
    except RegistryError:
        raise
    except Exception as e:
        return f"{SIGNATURE} does not verify under ${PUBLIC_KEY_ENV}: {clip(str(e) or type(e).__name__, 300)}"
    digests = {rd.identifier: rd.digest.digest_hex for rd in signed.resource_descriptors()}
    for name in names:
        if digests.get(name) != sha256_file(folder / name):
            return f"{name}: not the file {SIGNATURE} signs"
    return None


# ---------------------------------------------------------------- signed statements (DSSE)
def _pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what is actually signed."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def _ec_hash(key):
    from cryptography.hazmat.primitives import hashes

    size = key.curve.key_size
    return {256: hashes.SHA256(), 384: hashes.SHA384(), 521: hashes.SHA512()}[size]


def _load_key(env: str, private: bool):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    data = _key_path(env).read_bytes()
    try:
        key = (serialization.load_pem_private_key(data, None) if private
               else serialization.load_pem_public_key(data))
    except (ValueError, TypeError) as e:
        raise RegistryError(f"${env}: not a PEM {'private' if private else 'public'} key "
                            f"({clip(str(e))})") from None
    if not isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        raise RegistryError(f"${env}: expected an elliptic-curve (P-256/384/521) key, "
                            f"got {type(key).__name__}")
    return key


def key_id(public_key) -> str:
    """sha256 of the PEM public key (what model-signing records as the key hint)."""
    from cryptography.hazmat.primitives import serialization

    pem = public_key.public_bytes(serialization.Encoding.PEM,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(pem).hexdigest()


def statement(subject_name: str, subject_sha256: str, predicate_type: str,
              predicate: dict) -> dict:
    """An in-toto Statement v1 about one subject (e.g. a version, by its checksums digest)."""
    return {"_type": STATEMENT_TYPE, "subject": [{"name": subject_name,
                                                  "digest": {"sha256": subject_sha256}}],
            "predicateType": predicate_type, "predicate": predicate}


def sign_statement(doc: dict, payload_type: str = IN_TOTO) -> dict:
    """``doc`` (JSON) as a DSSE envelope signed with $MLOPS_DL_MODEL_SIGNING_KEY."""
    from cryptography.hazmat.primitives.asymmetric import ec

    if not os.environ.get(PRIVATE_KEY_ENV) or os.environ[PRIVATE_KEY_ENV] == KEYLESS:
        raise RegistryError(f"signing a statement needs ${PRIVATE_KEY_ENV} (a PEM key file)")
    key = _load_key(PRIVATE_KEY_ENV, private=True)
    payload = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("utf-8")
    sig = key.sign(_pae(payload_type, payload), ec.ECDSA(_ec_hash(key)))
    return {"payloadType": payload_type, "payload": base64.b64encode(payload).decode("ascii"),
            "signatures": [{"keyid": key_id(key.public_key()),
                            "sig": base64.b64encode(sig).decode("ascii")}]}


def verify_statement(envelope: object, what: str = "statement") -> dict:
    """The JSON inside a DSSE envelope whose signature verifies under
    $MLOPS_DL_MODEL_VERIFY_KEY; RegistryError naming what failed otherwise."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ec

    if not os.environ.get(PUBLIC_KEY_ENV):
        raise RegistryError(f"verifying a signed {what} needs ${PUBLIC_KEY_ENV}")
    key = _load_key(PUBLIC_KEY_ENV, private=False)
    try:
        kind, payload = envelope["payloadType"], base64.b64decode(envelope["payload"],
                                                                  validate=True)
        sigs = [base64.b64decode(s["sig"], validate=True) for s in envelope["signatures"]
                if s.get("keyid") in ("", key_id(key))]
    except (KeyError, TypeError, ValueError, AttributeError):
        raise RegistryError(f"{what} is not a DSSE envelope (payloadType, payload, "
                            "signatures)") from None
    if not sigs:
        raise RegistryError(f"{what} is not signed by the key in ${PUBLIC_KEY_ENV}")
    for sig in sigs:
        try:
            key.verify(sig, _pae(kind, payload), ec.ECDSA(_ec_hash(key)))
            break
        except InvalidSignature:
            continue
    else:
        raise RegistryError(f"{what}: signature does not verify under ${PUBLIC_KEY_ENV} "
                            "(edited after signing, or signed with another key)")
    try:
        return json.loads(payload)
    except (ValueError, RecursionError):
        raise RegistryError(f"{what}: signed payload is not JSON") from None


def generate_key_pair(private_path: Path, public_path: Path) -> None:
    """A new P-256 key pair: the private key (mode 0600) and its public key, both PEM."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from mlops_dl import files

    for path in (private_path, public_path):
        if path.exists():
            raise RegistryError(f"{path} exists: refusing to overwrite a key")
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    private_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(private)
    files.write_bytes(public_path, public)
