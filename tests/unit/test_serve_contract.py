"""serve's contract (issue 24): numbers from outside, v2 ``parameters``, 405 + Allow, /readyz
after a failed swap, the OpenAPI document, and schemathesis against a live `mlops-dl serve`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from mlops_dl.config import ServeConfig
from mlops_dl.numbers import NumberError, check_count, parse_count
from mlops_dl.serve.app import create_app
from mlops_dl.serve.swap import ModelHolder
from tests.unit.serve_helpers import fresh_registry, running_server, wait_until

REPO = Path(__file__).resolve().parents[2]
NUMBER_MATRIX = ["\u00b2", "1\u00b9", "\u0661", "\uff11", "01", "007", "1\n", " 1", "1 ", "+1",
                 "-1", "1_0", "0x10", "", "9" * 5000]


@pytest.mark.parametrize("text", NUMBER_MATRIX)
def test_parse_count_refuses_anything_but_plain_digits(text):
    with pytest.raises(NumberError, match="^length: "):
        parse_count(text, "length")


@pytest.mark.parametrize("text, value", [("0", 0), ("7", 7), ("123456789012", 123456789012)])
def test_parse_count_reads_plain_digits(text, value):
    assert parse_count(text, "n") == value


@pytest.mark.parametrize("value", [True, -1, 1.5, "3", None, [1], 10 ** 13, 10 ** 4000])
def test_check_count_refuses_non_counts(value):
    with pytest.raises(NumberError):
        check_count(value, "shape[0]")


@pytest.fixture(scope="module")
def client(tiny_registry, tmp_path_factory):
    root = tmp_path_factory.mktemp("serve-contract") / "registry"
    fresh_registry(tiny_registry, root)
    with TestClient(create_app(ServeConfig(swap_poll_s=0.05), "tiny@production",
                               registry=str(root))) as c:
        wait_until(lambda: c.get("/readyz").status_code == 200, what="ready")
        yield c


def _infer(**extra) -> dict:
    tensor = {"name": "text", "datatype": "BYTES", "shape": [1], "data": ["great"]}
    tensor.update(extra.pop("tensor", {}))
    return {"inputs": [tensor], **extra}


@pytest.mark.parametrize("body, field", [
    (_infer(tensor={"parameters": "x"}), "inputs[0].parameters"),
    (_infer(tensor={"parameters": [1]}), "inputs[0].parameters"),
    (_infer(tensor={"parameters": None}), "inputs[0].parameters"),
    (_infer(outputs=[{"name": "label", "parameters": "x"}]), "outputs[0].parameters"),
    (_infer(outputs=[{"name": "label", "parameters": [1]}]), "outputs[0].parameters"),
    (_infer(parameters="x"), "parameters"),
    (_infer(outputs=None), "outputs"),
    (_infer(id=5), "id"),
    (_infer(tensor={"shape": [True]}), "inputs[0].shape[0]"),
    (_infer(tensor={"shape": [10 ** 20]}), "inputs[0].shape[0]"),
])
def test_v2_bad_parameters_and_numbers_are_400_in_the_protocol_shape(client, body, field):
    r = client.post("/v2/models/tiny/infer", json=body)
    assert r.status_code == 400, r.text
    assert set(r.json()) == {"error"} and r.json()["error"].startswith(field), r.json()


@pytest.mark.parametrize("header", ["\u00b2", "1\u00b9", "01", "1\n", "9" * 5000, "-1"])
def test_v2_header_length_matrix_is_400(client, header):
    r = client.post("/v2/models/tiny/infer", content=b'{"inputs": []}',
                    headers={"Inference-Header-Content-Length": header.encode("utf-8"),
                             "content-type": "application/octet-stream"})
    assert r.status_code == 400, r.text
    assert r.json()["error"].startswith("Inference-Header-Content-Length"), r.json()
    assert 'status="500"' not in client.get("/metrics").text


def test_v2_405_carries_allow(client):
    r = client.put("/v2/models/tiny/infer")
    assert (r.status_code, r.headers["allow"]) == (405, "POST")
    r = client.delete("/v2/models/tiny/ready")
    assert (r.status_code, r.headers["allow"]) == (405, "GET")
    r = client.put("/v1/predict")
    assert r.status_code == 405 and "POST" in r.headers["allow"]


def test_openapi_describes_v2_bodies_and_statuses(client):
    doc = client.get("/openapi.json").json()
    infer = doc["paths"]["/v2/models/{name}/infer"]["post"]
    body = infer["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["inputs"]["items"]["properties"]["parameters"]["type"] == "object"
    assert {"200", "400", "404", "413", "422", "429", "503"} <= set(infer["responses"])
    assert "/v2/models/{name}/versions/{version}/infer" in doc["paths"]
    predict = doc["paths"]["/v1/predict"]["post"]["responses"]
    assert {"200", "400", "408", "413", "415", "422", "429", "503"} <= set(predict)
    assert "text/plain" in doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"]


def test_readyz_clears_the_error_once_the_reference_is_back_on_the_served_version():
    served = {"v": 1}

    class Loaded:
        def __init__(self, v):
            self.version = v

    def load(v):
        if v == 2:
            raise RuntimeError("model.sig does not verify")
        return Loaded(v)

    holder = ModelHolder("m@prod", lambda: served["v"], load)
    holder.check()
    served["v"] = 2
    holder.check()
    assert "model.sig" in holder.last_error
    served["v"] = 1  # the alias moved back: version 1 serves and is what it names
    holder.check()
    assert holder.last_error is None and holder.current().version == 1


def test_schemathesis_finds_no_5xx_and_no_conformance_failure(tiny_registry, tmp_path):
    root = tmp_path / "registry"
    fresh_registry(tiny_registry, root)
    cli = Path(sys.executable).with_name("schemathesis")
    if not cli.exists():
        pytest.skip("schemathesis (dev extra) is not installed")
    with running_server(root, "tiny@production") as srv:
        run = subprocess.run(
            [str(cli), "--config-file", str(REPO / "tests/fixtures/schemathesis.toml"), "run",
             f"{srv['url']}/openapi.json", "--checks", "all", "--max-examples", "25",
             "--seed", "1", "--workers", "1", "--phases", "examples,coverage,fuzzing",
             "--request-timeout", "10", "--no-color"],
            capture_output=True, text=True, timeout=240, cwd=tmp_path,
            env={**os.environ, "SCHEMATHESIS_HOOKS": ""})
        log = srv["proc"]
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "No issues found" in run.stdout
    log.kill()
    assert "Traceback" not in (log.stdout.read() or "")
