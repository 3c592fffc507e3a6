"""Request checks for /v1/predict and /v2 infer: every bad request becomes an ApiError naming the field."""

from __future__ import annotations

import asyncio
import hmac
import json
import re

from starlette.requests import Request

from mlops_dl.config import ServeConfig
from mlops_dl.errors import bounded, clip, quoted
from mlops_dl.numbers import NumberError, parse_count

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
BLANK_RULE = ("an empty or white-space-only text is refused (the server answers 422 naming "
              "texts[i]; batch predict reports the row in pred_error): it holds nothing to "
              "classify, and data prepare drops such texts, so no model was trained on one")


def is_blank(text: str) -> bool:
    """The one rule for empty texts, for the server and batch predict alike (BLANK_RULE)."""
    return not text.strip()


class ApiError(Exception):
    """A 4xx answer: status, the field at fault ("body", "texts[3]", a header) and a message."""

    def __init__(self, status: int, field: str, message: str, headers: dict | None = None):
        message = bounded(message)
        super().__init__(message)
        self.status, self.field, self.message = status, field, message
        self.headers = headers or {}


def check_token(request: Request, token: str) -> None:
    """Bearer-token check (constant-time) when serve.token is set."""
    if not token:
        return
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                             token.encode()):
        raise ApiError(401, "Authorization", "missing or wrong bearer token "
                       "(send 'Authorization: Bearer <serve.token>')",
                       {"WWW-Authenticate": "Bearer"})


def request_id(request: Request, fallback: str) -> str:
    """The client's X-Request-ID when it is sane, else ``fallback``."""
    given = request.headers.get("x-request-id", "")
    return given if _REQUEST_ID.match(given) else fallback


def header_count(value: str, header: str) -> int:
    """A byte count from a request header (mlops_dl.numbers' rules), else 400 naming it."""
    try:
        return parse_count(value, header)
    except NumberError as e:
        raise ApiError(400, header, str(e).removeprefix(f"{header}: ")) from None


def check_content_type(request: Request) -> None:
    ctype = request.headers.get("content-type", "")
    media, _, params = ctype.partition(";")
    if media.strip().lower() != "application/json":
        raise ApiError(415, "Content-Type", f"expected application/json, got {quoted(ctype or 'none')}")
    charset = params.strip().lower()
    if charset.startswith("charset=") and charset[8:].strip('"') not in ("utf-8", "utf8"):
        raise ApiError(415, "Content-Type", f"only charset=utf-8 is accepted, got {quoted(charset)}")


async def read_body(request: Request, limit: int,
                    timeout_s: float = ServeConfig.body_timeout_s) -> bytes:
    """The body, refused with 413 as soon as it passes ``limit`` bytes, with 408 (and the
    connection closed) when it has not all arrived ``timeout_s`` after the headers."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if header_count(declared, "Content-Length") > limit:
            raise ApiError(413, "body", f"{declared} bytes is over serve.max_body_bytes={limit}")
    chunks: list[bytes] = []

    async def collect() -> None:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ApiError(413, "body", f"body is over serve.max_body_bytes={limit}")
            chunks.append(chunk)

    try:
        await asyncio.wait_for(collect(), timeout_s)
    except asyncio.TimeoutError:  # TimeoutError from 3.11 on
        arrived = sum(map(len, chunks))
        raise ApiError(408, "body", f"body not received within serve.body_timeout_s="
                       f"{timeout_s:g} s ({arrived} bytes arrived)", {"Connection": "close"}) from None
    return b"".join(chunks)


def parse_texts(body: bytes, cfg: ServeConfig) -> list[str]:
    """Decode, parse and validate ``{"texts": [...]}`` against the serve limits."""
    try:
        raw = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ApiError(400, "body", f"not valid UTF-8 (byte {e.start}: {e.reason})") from None
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as e:
        raise ApiError(400, "body", f"not valid JSON: {e.msg} at line {e.lineno} "
                       f"column {e.colno}") from None
    except RecursionError:
        raise ApiError(400, "body", "JSON nested too deeply") from None
    except ValueError as e:  # what json.loads rejects beyond syntax: a >4300-digit integer
        raise ApiError(400, "body", f"not valid JSON: {clip(str(e))}") from None
    if not isinstance(doc, dict):
        raise ApiError(422, "body", f'expected an object {{"texts": [...]}}, got '
                       f"{type(doc).__name__}")
    unknown = sorted(set(doc) - {"texts"})
    if unknown:
        raise ApiError(422, clip(unknown[0]), f"unknown field {quoted(unknown[0])} (allowed: texts)")
    if "texts" not in doc:
        raise ApiError(422, "texts", "missing field 'texts' (a list of strings)")
    return check_texts(doc["texts"], cfg)


def check_texts(texts, cfg: ServeConfig, field: str = "texts") -> list[str]:
    """``texts`` against the serve limits (every protocol's texts go through here)."""
    if not isinstance(texts, list):
        raise ApiError(422, field, f"expected a list of strings, got {type(texts).__name__}")
    if not texts:
        raise ApiError(422, field, "empty list: send at least one text")
    if len(texts) > cfg.max_texts:
        raise ApiError(422, field, f"{len(texts)} texts is over serve.max_texts="
                       f"{cfg.max_texts}; split the request")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise ApiError(422, f"{field}[{i}]", f"expected a string, got {type(text).__name__}")
        if is_blank(text):
            raise ApiError(422, f"{field}[{i}]", "empty text (white space only): send at least "
                           "one character to classify")
        if len(text) > cfg.max_chars:
            raise ApiError(422, f"{field}[{i}]", f"{len(text)} characters is over "
                           f"serve.max_chars={cfg.max_chars}")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ApiError(422, f"{field}[{i}]", "holds an unpaired UTF-16 surrogate "
                           "(\\ud800-\\udfff escape) that is not a character") from None
    return texts
