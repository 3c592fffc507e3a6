"""The model registry: versions, aliases (with history), tags, attachments and checksums,
in a folder (staging + rename + file lock) or in S3-compatible storage (conditional writes).

Stdlib + filelock (+ boto3 for s3://, imported only then); the serving path imports it.
Layout: registry/README.md.

    reg = open_registry("registry")                # or open_registry("s3://bucket/prefix")
    mv = reg.register("sentiment", "bundle/")     # -> sentiment:1
    reg.promote("sentiment:1", "production")
    reg.get("sentiment@production").file("model.onnx")
"""

from mlops_dl.errors import RegistryError
from mlops_dl.registry.refs import ModelRef, check_alias, check_name, parse_ref
from mlops_dl.registry.root import resolve_root
from mlops_dl.registry.store import Registry
from mlops_dl.registry.version import ModelVersion
from mlops_dl.registry.factory import open_registry  # noqa: E402 (after store: it subclasses)

__all__ = ["ModelRef", "ModelVersion", "Registry", "RegistryError", "check_alias", "check_name",
           "open_registry", "parse_ref", "resolve_root"]
