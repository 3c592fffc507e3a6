"""The S3 client of the registry: boto3 set up the standard way, errors made into one-line
refusals, conditional writes, and bounded retries with backoff.

Endpoint and credentials come from the environment as for any AWS tool (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``, ``AWS_PROFILE``).
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from collections.abc import Callable
from typing import Any

from mlops_dl.errors import RegistryError, clip

CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 30.0
CONFLICT = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}
BAD_CREDENTIALS = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403",
                   "InvalidToken", "ExpiredToken", "InvalidClientTokenId"}
_PROBED: set[tuple[str, str]] = set()  # (endpoint, bucket) whose conditional writes were checked


class Conflict(Exception):
    """A conditional write lost (412/409): someone else wrote first."""


class NotModified(Exception):
    """A conditional read found the object unchanged (304)."""


def parse_url(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` -> (bucket, "prefix/") ("" for the bucket root)."""
    rest = url[len("s3://"):]
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise RegistryError(f"registry {url!r}: expected s3://BUCKET[/PREFIX]")
    prefix = prefix.strip("/")
    return bucket, f"{prefix}/" if prefix else ""


def make_client():
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise RegistryError("s3:// registries need boto3: pip install 'mlops-dl[s3]'") from None

    config = Config(connect_timeout=CONNECT_TIMEOUT_S, read_timeout=READ_TIMEOUT_S,
                    retries={"max_attempts": 2, "mode": "standard"})
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return boto3.session.Session().client("s3", region_name=region, config=config)


def endpoint(client) -> str:
    return client.meta.endpoint_url


def call(client, url: str, op: str, **kw) -> Any:
    """``client.<op>(**kw)`` with every failure a RegistryError naming the store and the fix;
    a lost conditional write raises Conflict, an unchanged conditional read NotModified."""
    from botocore.exceptions import (BotoCoreError, ClientError, ConnectionError,
                                     NoCredentialsError, PartialCredentialsError)

    where = f"{url} at {endpoint(client)}"
    try:
        return getattr(client, op)(**kw)
    except ClientError as e:
        err = e.response.get("Error", {})
        code = str(err.get("Code") or e.response.get("ResponseMetadata", {}).get("HTTPStatusCode"))
        if code in CONFLICT:
            raise Conflict(code) from None
        if code in ("304", "NotModified"):
            raise NotModified() from None
        if code in ("NoSuchKey", "404", "NotFound"):
            raise FileNotFoundError(kw.get("Key", "")) from None
        if code == "NoSuchBucket":
            raise RegistryError(f"registry {where}: bucket {kw.get('Bucket')!r} does not exist; "
                                f"create it (e.g. aws s3 mb s3://{kw.get('Bucket')}) or fix the URL") from None
        if code in BAD_CREDENTIALS:
            raise RegistryError(f"registry {where}: the store refused the credentials ({code}: "
                                f"{err.get('Message', '')}); check AWS_ACCESS_KEY_ID, "
                                f"AWS_SECRET_ACCESS_KEY or AWS_PROFILE") from None
        raise RegistryError(f"registry {where}: {op} {kw.get('Key', '')} failed: {code} "
                            f"{err.get('Message', '')}") from None
    except (NoCredentialsError, PartialCredentialsError):
        raise RegistryError(f"registry {where}: no S3 credentials; set AWS_ACCESS_KEY_ID and "
                            f"AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)") from None
    except (ConnectionError, BotoCoreError) as e:
        raise RegistryError(f"registry {where}: cannot reach the S3 endpoint ({type(e).__name__}: "
                            f"{e}); check AWS_ENDPOINT_URL and that the server is up") from None


def with_retries(attempt: Callable[[], Any], what: str, tries: int = 80,
                 base_s: float = 0.02, cap_s: float = 1.0) -> Any:
    """Call ``attempt`` until it does not raise Conflict; full-jitter exponential backoff."""
    for i in range(tries):
        try:
            return attempt()
        except Conflict:
            time.sleep(random.uniform(0, min(cap_s, base_s * 2 ** min(i, 10))))
    raise RegistryError(f"{what}: gave up after {tries} conflicting concurrent writes; retry")


def check_conditional_writes(client, url: str, bucket: str, prefix: str) -> None:
    """Refuse a store that ignores ``If-None-Match: *`` (once per endpoint and bucket)."""
    key = (endpoint(client), bucket)
    if key in _PROBED:
        return
    probe = f"{prefix}.mlops-dl/probe-{uuid.uuid4().hex}"
    call(client, url, "put_object", Bucket=bucket, Key=probe, Body=b"1", IfNoneMatch="*")
    try:
        call(client, url, "put_object", Bucket=bucket, Key=probe, Body=b"2", IfNoneMatch="*")
        honoured = False
    except Conflict:
        honoured = True
    finally:
        call(client, url, "delete_object", Bucket=bucket, Key=probe)
    if not honoured:
        raise RegistryError(
            f"registry {url} at {endpoint(client)}: the store ignores conditional writes (a second "
            f"PutObject with If-None-Match: * succeeded); concurrent registrations would overwrite "
            f"each other, so it cannot hold a shared registry. Use a store with conditional writes "
            f"(AWS S3, MinIO, SeaweedFS, R2, ...)")
    _PROBED.add(key)


class Objects:
    """The bucket and prefix of one registry URL, with a lazily made (picklable) client."""

    def __init__(self, url: str):
        self.url = url
        self.bucket, self.prefix = parse_url(url)
        self._client = None

    def __getstate__(self) -> dict:  # bench engines pickle versions: the client is made again
        return {**self.__dict__, "_client": None}

    @property
    def client(self):
        if self._client is None:
            self._client = make_client()
        return self._client

    @property
    def endpoint(self) -> str:
        return endpoint(self.client)

    def call(self, op: str, **kw):
        return call(self.client, self.url, op, Bucket=self.bucket, **kw)

    def get_json(self, key: str) -> dict | None:
        try:
            body = self.call("get_object", Key=key)["Body"].read()
        except FileNotFoundError:
            return None
        return loads(body, f"{self.url}: {key}")

    def put_json(self, key: str, doc: dict, **cond) -> str:
        body = (json.dumps(doc, indent=2, default=str) + "\n").encode("utf-8")
        return self.call("put_object", Key=key, Body=body, ContentType="application/json",
                         **cond)["ETag"]

    def list(self, prefix: str, delimiter: str = "") -> tuple[list[str], list[str]]:
        """(keys, common prefixes) under ``prefix``, every page."""
        keys, prefixes, token = [], [], None
        while True:
            kw = {"Prefix": prefix, **({"Delimiter": delimiter} if delimiter else {}),
                  **({"ContinuationToken": token} if token else {})}
            page = self.call("list_objects_v2", **kw)
            keys += [o["Key"] for o in page.get("Contents", [])]
            prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
            if not page.get("IsTruncated"):
                return keys, prefixes
            token = page["NextContinuationToken"]

    def check_conditional_writes(self) -> None:
        check_conditional_writes(self.client, self.url, self.bucket, self.prefix)


def loads(data: bytes, where: str) -> dict:
    """A stored JSON object; anything else (bad bytes, bad JSON, a list) is a RegistryError."""
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as e:  # also bad UTF-8, a >4300-digit integer
        raise RegistryError(f"{where}: not valid JSON ({clip(str(e))})") from None
    if not isinstance(doc, dict):
        raise RegistryError(f"{where}: expected a JSON object, got {type(doc).__name__}")
    return doc
