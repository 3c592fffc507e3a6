"""The HTTP server against a hostile client (issue 16): bodies the JSON parser rejects,
trickled or idle connections, oversized heads, hang-ups, trailing slashes, open binds."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from mlops_dl.config import ServeConfig
from mlops_dl.errors import ConfigError
from mlops_dl.serve import server as server_mod
from mlops_dl.serve.app import create_app
from mlops_dl.serve.requests import ApiError, parse_texts
from tests.unit.serve_helpers import fresh_registry, wait_until

HUGE_INT = b"1" * 5000  # json.loads raises ValueError (not JSONDecodeError) past 4300 digits


@pytest.fixture(scope="module")
def root(tiny_registry, tmp_path_factory):
    root = tmp_path_factory.mktemp("serve-hardening") / "registry"
    fresh_registry(tiny_registry, root)
    return root


def make_client(root, **overrides) -> TestClient:
    cfg = ServeConfig(swap_poll_s=0.05, **overrides)
    return TestClient(create_app(cfg, "tiny@production", registry=str(root)))


@pytest.mark.parametrize("body", [
    HUGE_INT,
    b'{"texts": [' + HUGE_INT + b"]}",
    b'{"texts": ["a"], "n": ' + HUGE_INT + b"}",
    b'{"texts": ["a"], "n": -' + HUGE_INT + b"}",
])
def test_every_body_the_json_parser_rejects_is_400_body(body):
    with pytest.raises(ApiError) as e:
        parse_texts(body, ServeConfig())
    assert (e.value.status, e.value.field) == (400, "body") and "not valid JSON" in e.value.message


def test_huge_integer_over_http_is_400_not_500(root):
    with make_client(root) as client:
        wait_until(lambda: client.get("/readyz").status_code == 200, what="ready")
        r = client.post("/v1/predict", content=b'{"texts": [' + HUGE_INT + b"]}",
                        headers={"content-type": "application/json"})
        assert r.status_code == 400, r.text
        assert r.json()["error"]["field"] == "body"
        assert 'status="500"' not in client.get("/metrics").text


# ----------------------------------------------------------------------------- a real socket
@contextlib.contextmanager
def live_server(root, **overrides):
    """The app under uvicorn with the settings `mlops-dl serve` uses, on a free port."""
    cfg = ServeConfig(swap_poll_s=0.05, log_path="", **overrides)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = server_mod.uvicorn_config(cfg, create_app(cfg, "tiny@production", registry=str(root)))
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_until(lambda: srv.started, what="uvicorn started")
    try:
        yield sock.getsockname()
    finally:
        srv.should_exit = True
        thread.join(10)
        sock.close()


def read_until_closed(conn: socket.socket, limit_s: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes, and the seconds that took."""
    start, data = time.monotonic(), b""
    conn.settimeout(limit_s)
    try:
        while chunk := conn.recv(65536):
            data += chunk
    except (ConnectionResetError, TimeoutError):  # TimeoutError: still open after limit_s
        pass
    return data, time.monotonic() - start


def trickle(conn: socket.socket, parts: list[bytes], every_s: float) -> None:
    """Send ``parts`` one by one in a thread, stopping quietly once the server hangs up."""
    def run():
        for part in parts:
            try:
                conn.sendall(part)
            except OSError:
                return
            time.sleep(every_s)
    threading.Thread(target=run, daemon=True).start()


def test_idle_and_trickling_connections_are_closed_within_the_bounds(root):
    with live_server(root, header_timeout_s=1.0, body_timeout_s=1.0) as addr:
        idle = socket.create_connection(addr)
        data, took = read_until_closed(idle, 5)
        assert took < 2.5 and data.startswith(b"HTTP/1.1 408 ") and b'"field": "headers"' in data
        heads = [socket.create_connection(addr) for _ in range(5)]
        for conn in heads:  # a header line every 0.2 s, never the blank line that ends them
            trickle(conn, [b"POST /v1/predict HTTP/1.1\r\n"] + [b"X-Slow: 1\r\n"] * 50, 0.2)
        for conn in heads:
            data, took = read_until_closed(conn, 5)
            assert took < 2.5 and data.startswith(b"HTTP/1.1 408 "), data
        body = socket.create_connection(addr)
        head = (b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100\r\n\r\n")
        trickle(body, [head] + [b" "] * 99, 0.2)
        data, took = read_until_closed(body, 5)
        assert took < 2.5 and data.startswith(b"HTTP/1.1 408 "), data
        assert b'"field":"body"' in data and b"serve.body_timeout_s=1" in data
        for conn in [idle, *heads, body]:
            conn.close()


def test_a_growing_request_head_is_refused_at_max_header_bytes(root):
    with live_server(root, max_header_bytes=2048, header_timeout_s=10.0) as addr:
        conn = socket.create_connection(addr)
        trickle(conn, [b"GET /healthz HTTP/1.1\r\n"] + [b"X-Big: " + b"a" * 500 + b"\r\n"] * 20,
                0.02)
        data, took = read_until_closed(conn, 5)
        assert data.startswith(b"HTTP/1.1 400 ") and took < 4  # 10 KB: h11's plain-text 400
        conn.close()


def test_client_disconnect_mid_body_counts_499_without_a_traceback(root, caplog):
    with live_server(root) as addr:
        conn = socket.create_connection(addr)
        conn.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000\r\n\r\n" + b'{"texts": ["')
        time.sleep(0.3)
        conn.close()
        url = f"http://{addr[0]}:{addr[1]}/metrics"
        metrics = wait_until(lambda: (t := httpx.get(url).text) and 'status="499"' in t and t,
                             what="the 499 in /metrics")
        assert 'mlops_dl_requests_total{route="/v1/predict",status="499"} 1.0' in metrics
        assert 'status="500"' not in metrics
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


GARBAGE = [b"Content-Length: -5\r\n", b"Content-Length: 99999999999999999999999\r\n",
           b"Content-Length: 2\r\nContent-Length: 3\r\n",
           b"Transfer-Encoding: chunked\r\n\r\nzz\r\n"]


def test_protocol_garbage_gets_uvicorns_plain_text_400_as_the_readme_says(root):
    with live_server(root) as addr:
        for header in GARBAGE:
            conn = socket.create_connection(addr)
            conn.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\n" + header + b"\r\n")
            data, _ = read_until_closed(conn, 5)
            conn.close()
            head, _, body = data.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 400 ") and b"content-type: text/plain" in head, data
            assert b"Invalid HTTP request received." in body, data  # sent chunked


# ----------------------------------------------------------------------------- routes, exposure
def test_trailing_slash_is_a_404_json_not_a_redirect(root):
    with make_client(root) as client:
        r = client.post("/v1/predict/", json={"texts": ["a"]}, follow_redirects=False)
        assert r.status_code == 404, r.text
        err = r.json()["error"]
        assert err["field"] == "path" and "no trailing slash: /v1/predict" in err["message"]
        assert client.get("/healthz/", follow_redirects=False).status_code == 404


def test_a_request_head_over_max_header_bytes_is_431_json(root):
    with make_client(root, max_header_bytes=2048) as client:
        r = client.get("/healthz", headers={"X-Big": "a" * 3000})
        assert r.status_code == 431 and r.json()["error"]["field"] == "headers"
        assert client.get("/healthz", headers={"X-Small": "a" * 500}).status_code == 200


@pytest.mark.parametrize("host, token, anonymous, refused", [
    ("127.0.0.1", "", False, False), ("localhost", "", False, False), ("::1", "", False, False),
    ("0.0.0.0", "", False, True), ("192.168.1.5", "", False, True), ("::", "", False, True),
    ("0.0.0.0", "s3cret", False, False), ("0.0.0.0", "", True, False),
])
def test_non_loopback_host_needs_a_token_or_allow_anonymous(monkeypatch, host, token, anonymous,
                                                            refused):
    monkeypatch.delenv(server_mod.TOKEN_ENV, raising=False)
    cfg = ServeConfig(host=host, token=token, allow_anonymous=anonymous)
    if refused:
        with pytest.raises(ConfigError, match="serve.token is empty.*--insecure"):
            server_mod.check_exposure(cfg)
        monkeypatch.setenv(server_mod.TOKEN_ENV, "from-env")
    cfg, warning = server_mod.check_exposure(cfg)
    assert (warning is not None) == (anonymous and not token)
    assert cfg.token == (token or ("from-env" if refused else ""))


def test_cli_serve_on_all_interfaces_without_token_is_refused(tiny_registry, capsys, monkeypatch):
    from mlops_dl.cli import main

    monkeypatch.delenv(server_mod.TOKEN_ENV, raising=False)
    code = main(["serve", "tiny:1", "--host", "0.0.0.0", "--registry", str(tiny_registry)])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2 and "serve.token is empty" in err and "--insecure" in err


def test_content_length_with_a_non_ascii_digit_is_400():
    import asyncio

    from starlette.requests import Request

    from mlops_dl.serve.requests import read_body

    async def receive():
        return {"type": "http.request", "body": b"{}", "more_body": False}

    request = Request({"type": "http", "method": "POST", "path": "/v1/predict",
                       "headers": [(b"content-length", b"\xb2")]}, receive)  # latin-1 "²"
    with pytest.raises(ApiError) as e:
        asyncio.run(read_body(request, 1000))
    assert (e.value.status, e.value.field) == (400, "Content-Length")
