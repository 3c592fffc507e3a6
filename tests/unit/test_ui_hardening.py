"""The UI against a careless or hostile client (issue 24): numbers from outside, cross-site
POSTs, slow request heads on serve's bounded server, non-loopback binds without a token."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import uvicorn
from fastapi.testclient import TestClient

from mlops_dl.cli import main
from mlops_dl.cli.ui import server_config
from mlops_dl.config import ServeConfig
from mlops_dl.registry import open_registry
from mlops_dl.ui import create_app
from tests.unit.monitor_helpers import copy_registry
from tests.unit.serve_helpers import free_port, wait_until
from tests.unit.ui_helpers import ui_settings

TOKEN = "unit-test-token"
NINES = "9" * 5000
BAD_VERSIONS = ["\u0661", "\u00b2", "01", "1%0A", "1%20", NINES, "0"]


@pytest.fixture()
def own(ui_world, tmp_path):
    registry = copy_registry(ui_world["registry"], tmp_path / "registry")
    return registry, TestClient(create_app(ui_settings(ui_world, TOKEN, registry)))


@pytest.mark.parametrize("version", BAD_VERSIONS)
def test_version_in_the_url_must_be_plain_digits(ui_world, version):
    c = TestClient(create_app(ui_settings(ui_world, TOKEN)))
    for url in (f"/models/tiny/versions/{version}", f"/models/tiny/versions/{version}/verify",
                f"/models/tiny/compare?v=1&v={version}"):
        r = c.get(url)
        assert r.status_code == 400, (url, r.status_code)
        assert "version" in r.text or "v:" in r.text


@pytest.mark.parametrize("url", [f"/monitoring?ref=tiny:{NINES}", "/monitoring?ref=tiny:01",
                                 "/monitoring?slices=%C2%B2", f"/monitoring?slices={NINES}",
                                 f"/studies/tiny-study/trials/{NINES}"])
def test_numbers_in_query_strings_are_4xx(ui_world, url):
    r = TestClient(create_app(ui_settings(ui_world, TOKEN))).get(url)
    assert 400 <= r.status_code < 500, (url, r.status_code)


@pytest.mark.parametrize("version", ["\u00b2", "\u0661", NINES, "01", "1\n", " 1"])
def test_rollback_version_must_be_plain_digits(own, version):
    registry, c = own
    r = c.post("/models/tiny/aliases/production/move", data={"version": version, "token": TOKEN,
                                                             "confirm": "yes", "reason": "drill"})
    assert r.status_code == 400 and "form field version" in r.text
    assert open_registry(registry).alias_target("tiny", "production") == 3


def test_cross_site_posts_are_refused_before_anything_moves(own):
    registry, c = own
    url = "/models/tiny/aliases/production/move"
    form = {"version": "1", "token": TOKEN, "confirm": "yes", "reason": "cross-site drill"}
    for headers in ({"Origin": "http://evil.example"}, {"Origin": "null"},
                    {"Referer": "http://evil.example/page"},
                    {"Origin": "http://testserver.evil.example"}):
        r = c.post(url, data=form, headers=headers)
        assert r.status_code == 403 and "cross-site" in r.text, headers
    r = c.post("/labelling/abc", data={"gold": "positive", "token": TOKEN},
               headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    assert open_registry(registry).alias_target("tiny", "production") == 3
    r = c.post(url, data=form, headers={"Origin": "http://testserver",
                                        "Referer": "http://testserver/models/tiny"},
               follow_redirects=False)
    assert r.status_code == 303 and open_registry(registry).alias_target("tiny", "production") == 1
    assert c.get("/").headers["referrer-policy"] == "same-origin"


def test_slow_request_heads_are_cut_and_a_normal_client_still_works(ui_world):
    bounds = ServeConfig(host="127.0.0.1", port=free_port(), header_timeout_s=0.5,
                         keep_alive_s=0.5)
    server = uvicorn.Server(server_config(create_app(ui_settings(ui_world, None)), bounds))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, what="ui started")
        slow = [socket.create_connection(("127.0.0.1", bounds.port)) for _ in range(5)]
        for s in slow:
            s.sendall(b"GET / HTTP/1.1\r\nHo")  # then nothing more
        start = time.monotonic()
        answers = []
        for s in slow:
            s.settimeout(5)
            answers.append(s.recv(4096))
            s.close()
        assert all(a.startswith(b"HTTP/1.1 408") for a in answers), answers
        assert time.monotonic() - start < 3.0
        import httpx
        assert httpx.get(f"http://127.0.0.1:{bounds.port}/", timeout=10).status_code == 200
        big = httpx.get(f"http://127.0.0.1:{bounds.port}/", headers={"X-Pad": "a" * 40000},
                        timeout=10)
        assert big.status_code == 431
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_non_loopback_ui_without_a_token_is_refused(capsys, monkeypatch):
    monkeypatch.delenv("MLOPS_DL_UI_TOKEN", raising=False)
    assert main(["ui", "--host", "0.0.0.0", "--port", str(free_port())]) != 0
    err = capsys.readouterr().err
    assert "--token is empty" in err and "--insecure" in err and "texts" in err
