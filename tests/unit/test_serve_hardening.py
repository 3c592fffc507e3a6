"""The HTTP server against a hostile client (issue 16): bodies the JSON parser rejects, ..."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from mlops_dl.config import ServeConfig
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
