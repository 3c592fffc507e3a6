"""uvicorn with bounded reads, and who may listen where.

uvicorn bounds neither the time a client takes to send a request head nor an idle new
connection, so ``BoundedH11Protocol`` gives every request head (request line + headers)
``serve.header_timeout_s`` from the connection opening or the previous response, then answers
408 and closes. The head size is bounded by h11 while it arrives (``serve.max_header_bytes``)
and by ``limit_head`` once it has; the body by ``serve.body_timeout_s`` in requests.read_body;
an idle keep-alive connection by ``serve.keep_alive_s``. Protocol garbage (a bad or doubled
Content-Length, a bad chunk size) gets uvicorn's plain-text 400 before the app sees it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import json
import logging
import os

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from mlops_dl.config import ServeConfig
from mlops_dl.errors import ConfigError

log = logging.getLogger("mlops_dl.serve")
TOKEN_ENV = "MLOPS_DL_SERVE_TOKEN"  # serve.token when the config leaves it empty


def _raw_response(status: int, reason: str, field: str, message: str) -> bytes:
    """A whole HTTP/1.1 response with our JSON error body and Connection: close."""
    body = json.dumps({"error": {"status": status, "field": field, "message": message}}).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n")
    return head.encode("ascii") + body


class BoundedConfig(uvicorn.Config):
    """uvicorn.Config plus the head deadline (pickled to ``--workers`` processes with it)."""

    def __init__(self, app, header_timeout_s: float, **kwargs):
        super().__init__(app, **kwargs)
        self.header_timeout_s = header_timeout_s


class BoundedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request head."""

    def __init__(self, config, *args, **kwargs):
        super().__init__(config, *args, **kwargs)
        self.header_timeout_s = getattr(config, "header_timeout_s", None)
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_cycle = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._arm_head_timer()

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not self._head_cycle:  # a request head arrived: a new cycle runs
            self._head_cycle = self.cycle
            self._disarm_head_timer()

    def on_response_complete(self) -> None:
        self._arm_head_timer()  # for the next head; a pipelined one disarms it in super()
        super().on_response_complete()

    def connection_lost(self, exc) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def _arm_head_timer(self) -> None:
        self._disarm_head_timer()
        if self.header_timeout_s:
            self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.write(_raw_response(
                408, "Request Timeout", "headers",
                f"request head not received within serve.header_timeout_s={self.header_timeout_s:g} s"))
            self.transport.close()


def limit_head(app, max_bytes: int):
    """ASGI wrapper: a request head over ``max_bytes`` (it can arrive in one read) -> 431 JSON."""

    async def wrapped(scope, receive, send):
        if scope["type"] == "http":
            size = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
            size += sum(len(k) + len(v) + 4 for k, v in scope.get("headers") or ())
            if size > max_bytes:
                body = json.dumps({"error": {"status": 431, "field": "headers", "message":
                                   f"request head of {size} bytes is over "
                                   f"serve.max_header_bytes={max_bytes}"}}).encode()
                await send({"type": "http.response.start", "status": 431, "headers": [
                    (b"content-type", b"application/json"), (b"connection", b"close")]})
                await send({"type": "http.response.body", "body": body})
                return
        await app(scope, receive, send)

    return wrapped


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(cfg: ServeConfig) -> tuple[ServeConfig, str | None]:
    """``cfg`` with serve.token from $MLOPS_DL_SERVE_TOKEN when empty, and the warning to show.

    A non-loopback host without a token is refused unless serve.allow_anonymous.
    """
    if not cfg.token and os.environ.get(TOKEN_ENV):
        cfg = dataclasses.replace(cfg, token=os.environ[TOKEN_ENV])
    warning = exposure_warning(
        cfg.host, cfg.port, bool(cfg.token), cfg.allow_anonymous,
        what="serve.host", token_name="serve.token", exposed="use the model and read /metrics",
        fix=f"Set a token (${TOKEN_ENV} or --set serve.token=...), or pass --insecure "
            f"(serve.allow_anonymous: true) to serve without one",
        served="call /v1/predict and read /metrics")
    return cfg, warning


def exposure_warning(host: str, port: int, has_token: bool, allow_anonymous: bool, *,
                     what: str, token_name: str, exposed: str, fix: str,
                     served: str) -> str | None:
    """The one non-loopback rule (serve and ui): a host other machines reach needs a token,
    or ``allow_anonymous`` (--insecure), which only earns a warning; ConfigError otherwise."""
    if has_token or is_loopback(host):
        return None
    if not allow_anonymous:
        raise ConfigError(
            f"{what} {host} accepts connections from other machines and {token_name} is empty: "
            f"anyone who reaches the port could {exposed}. {fix}")
    return (f"WARNING: listening on {host} WITHOUT a token (--insecure): anyone who reaches "
            f"port {port} can {served}")


def uvicorn_config(cfg: ServeConfig, app, **kwargs) -> BoundedConfig:
    """The uvicorn settings every serve run uses (``app``: an ASGI app or an import string)."""
    return BoundedConfig(app, cfg.header_timeout_s, host=cfg.host, port=cfg.port,
                         http=BoundedH11Protocol, timeout_keep_alive=cfg.keep_alive_s,
                         h11_max_incomplete_event_size=cfg.max_header_bytes, log_level="info",
                         access_log=False, timeout_graceful_shutdown=30, **kwargs)


def serve_forever(config: BoundedConfig) -> None:
    """uvicorn.run for a prepared config: one process, or ``config.workers`` of them."""
    from uvicorn.supervisors import Multiprocess

    if config.workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
    else:
        uvicorn.Server(config).run()
