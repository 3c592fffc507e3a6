"""The HTTP app with FastAPI's TestClient: endpoints, the bad-input matrix, auth, metrics, log."""

from __future__ import annotations

import json
import time

import pytest
from fastapi.testclient import TestClient

from mlops_dl.config import ServeConfig
from mlops_dl.runtime import from_registry
from mlops_dl.serve.app import create_app
from mlops_dl.serve.swap import ModelHolder
from tests.unit.serve_helpers import fresh_registry


@pytest.fixture(scope="module")
def root(tiny_registry, tmp_path_factory):
    """A private registry root with tiny:1 promoted to production."""
    root = tmp_path_factory.mktemp("serve-app") / "registry"
    fresh_registry(tiny_registry, root)
    return root


def wait_ready(client: TestClient, timeout: float = 20.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if client.get("/readyz").status_code == 200:
            return
        time.sleep(0.05)
    raise AssertionError(f"not ready: {client.get('/readyz').json()}")


def make_client(root, tmp_path, **overrides):
    cfg = ServeConfig(log_path=str(tmp_path / "pred.jsonl"), swap_poll_s=0.05, max_texts=8,
                      max_chars=200, max_body_bytes=4000, **overrides)
    return TestClient(create_app(cfg, "tiny@production", registry=str(root)))


def test_predict_health_ready_metrics(root, tmp_path):
    with make_client(root, tmp_path) as client:
        assert client.get("/healthz").json() == {"status": "alive"}
        wait_ready(client)
        ready = client.get("/readyz").json()
        assert ready["model"]["version"] == 1 and ready["model"]["variant"] == "int8-static"
        r = client.post("/v1/predict", json={"texts": ["love great", "hate awful"]},
                        headers={"X-Request-ID": "abc-1"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["request_id"] == "abc-1" and r.headers["x-request-id"] == "abc-1"
        assert body["model"] == "tiny" and body["version"] == 1
        assert len(body["predictions"]) == 2
        for p in body["predictions"]:
            assert set(p["probabilities"]) == {"negative", "neutral", "positive"}
            assert p["label"] in p["probabilities"]
        direct = from_registry("tiny:1", root).predict(["love great", "hate awful"])
        assert [p["label"] for p in body["predictions"]] == [d["label"] for d in direct]
        metrics = client.get("/metrics").text
        assert 'mlops_dl_requests_total{route="/v1/predict",status="200"} 1.0' in metrics
        assert "mlops_dl_request_latency_seconds_bucket" in metrics
        assert "mlops_dl_batch_size_count 1.0" in metrics
        assert "mlops_dl_queue_depth 0.0" in metrics
        assert ('mlops_dl_model_info{accepted="unknown",chosen_by="config",engine="onnxruntime",'
                'name="tiny",precision="int8",provider="CPUExecutionProvider",'
                'variant="int8-static",version="1"} 1.0') in metrics
        assert client.get("/docs").status_code == 200
        schema = client.get("/openapi.json").json()
        assert "/v1/predict" in schema["paths"]
    lines = [json.loads(x) for x in (tmp_path / "pred.jsonl").read_text().splitlines()]
    assert [x["text"] for x in lines] == ["love great", "hate awful"]
    assert all(x["request_id"] == "abc-1" and x["version"] == 1 for x in lines)
    assert {"ts", "label", "probabilities", "latency_ms", "model"} <= set(lines[0])


BAD = [
    ("empty list", {"json": {"texts": []}}, 422, "texts"),
    ("missing texts", {"json": {"text": ["a"]}}, 422, "text"),
    ("no texts key", {"json": {}}, 422, "texts"),
    ("not a list", {"json": {"texts": "hello"}}, 422, "texts"),
    ("not an object", {"json": ["hello"]}, 422, "body"),
    ("non-string", {"json": {"texts": ["ok", 3]}}, 422, "texts[1]"),
    ("null text", {"json": {"texts": [None]}}, 422, "texts[0]"),
    ("empty text", {"json": {"texts": ["ok", ""]}}, 422, "texts[1]"),
    ("blank text", {"json": {"texts": [" \t\n"]}}, 422, "texts[0]"),
    ("huge text", {"json": {"texts": ["x" * 201]}}, 422, "texts[0]"),
    ("huge batch", {"json": {"texts": ["x"] * 9}}, 422, "texts"),
    ("huge body", {"content": b'{"texts": ["' + b"x" * 5000 + b'"]}'}, 413, "body"),
    ("invalid JSON", {"content": b'{"texts": ['}, 400, "body"),
    ("invalid UTF-8", {"content": b'{"texts": ["\xff\xfe"]}'}, 400, "body"),
    ("lone surrogate", {"content": b'{"texts": ["\\ud800"]}'}, 422, "texts[0]"),
    ("deep nesting", {"content": b"[" * 100000 + b"]" * 100000}, 413, "body"),
    ("wrong content type", {"content": b'{"texts": ["a"]}', "ct": "text/plain"}, 415,
     "Content-Type"),
    ("latin-1 charset", {"content": b'{"texts": ["a"]}',
                         "ct": "application/json; charset=latin-1"}, 415, "Content-Type"),
]


@pytest.mark.parametrize("case,kwargs,status,field", BAD, ids=[b[0] for b in BAD])
def test_bad_input_matrix_is_4xx_naming_the_field(root, tmp_path, case, kwargs, status, field):
    with make_client(root, tmp_path) as client:
        wait_ready(client)
        headers = {}
        if "content" in kwargs:
            headers["content-type"] = kwargs.get("ct", "application/json")
            r = client.post("/v1/predict", content=kwargs["content"], headers=headers)
        else:
            r = client.post("/v1/predict", json=kwargs["json"])
        assert r.status_code == status, r.text
        err = r.json()["error"]
        assert err["field"] == field and err["message"]
        assert r.json()["request_id"]
        # the server is still fine afterwards
        assert client.post("/v1/predict", json={"texts": ["ok"]}).status_code == 200


def test_unknown_route_and_method(root, tmp_path):
    with make_client(root, tmp_path) as client:
        r = client.get("/v3/nothing")  # (/v2/... is the Open Inference Protocol's, its errors)
        assert r.status_code == 404 and r.json()["error"]["field"] == "path"
        r = client.get("/v2/nothing")
        assert r.status_code == 404 and r.json() == {"error": "no such endpoint: GET /v2/nothing"}
        assert client.get("/v1/predict").status_code == 405
        assert 'route="other",status="404"' in client.get("/metrics").text


def test_bearer_token(root, tmp_path):
    with make_client(root, tmp_path, token="s3cret") as client:
        wait_ready(client)
        assert client.get("/healthz").status_code == 200
        r = client.post("/v1/predict", json={"texts": ["a"]})
        assert r.status_code == 401 and r.json()["error"]["field"] == "Authorization"
        assert r.headers["www-authenticate"] == "Bearer"
        bad = client.post("/v1/predict", json={"texts": ["a"]},
                          headers={"Authorization": "Bearer wrong"})
        assert bad.status_code == 401
        assert client.get("/metrics").status_code == 401
        ok = client.post("/v1/predict", json={"texts": ["a"]},
                         headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200


def test_queue_limit_answers_429(root, tmp_path):
    with make_client(root, tmp_path, queue_limit=3) as client:
        wait_ready(client)
        r = client.post("/v1/predict", json={"texts": ["a"] * 4})
        assert r.status_code == 429 and r.headers["retry-after"] == "1"


def test_not_ready_is_503_then_loads(root, tmp_path):
    served = {"version": 1}
    calls = {"n": 0}

    def flaky_load(v):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("registry busy")
        return from_registry(f"tiny:{v}", root)

    holder = ModelHolder("tiny@production", lambda: served["version"], flaky_load)
    cfg = ServeConfig(log_path="", swap_poll_s=0.3)
    with TestClient(create_app(cfg, "tiny@production", holder=holder)) as client:
        first = client.get("/readyz")
        if first.status_code == 503:
            assert client.post("/v1/predict", json={"texts": ["a"]}).status_code == 503
        wait_ready(client)
        assert client.post("/v1/predict", json={"texts": ["a"]}).status_code == 200


def test_worker_spec_is_validated_and_gives_each_worker_its_log(root, tmp_path, monkeypatch):
    """`--workers N`: each worker rebuilds ServeConfig from $MLOPS_DL_SERVE_SPEC through the
    config validation (a bad value names the variable and key) and logs to its own file."""
    import dataclasses
    import os

    from mlops_dl.errors import ConfigError
    from mlops_dl.serve.app import SPEC_ENV, app_from_env

    cfg = ServeConfig(log_path=str(tmp_path / "pred.jsonl"), swap_poll_s=0.05)
    spec = {"ref": "tiny@production", "registry": str(root), "per_worker_log": True,
            "serve": dataclasses.asdict(cfg)}
    monkeypatch.setenv(SPEC_ENV, json.dumps({**spec, "serve": {**spec["serve"], "max_batch_size": 0}}))
    with pytest.raises(ConfigError, match=rf"\${SPEC_ENV}: serve\.max_batch_size: must be >= 1"):
        app_from_env()
    monkeypatch.setenv(SPEC_ENV, json.dumps({**spec, "serve": {**spec["serve"], "batch": 4}}))
    with pytest.raises(ConfigError, match=r"unknown key serve\.batch"):
        app_from_env()
    monkeypatch.setenv(SPEC_ENV, json.dumps(spec))
    with TestClient(app_from_env()) as client:
        wait_ready(client)
        assert client.post("/v1/predict", json={"texts": ["love great"]}).status_code == 200
    assert (tmp_path / f"pred.{os.getpid()}.jsonl").is_file()
