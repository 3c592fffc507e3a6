"""The Open Inference Protocol (v2) on a running `mlops-dl serve`, driven by Triton's own
client (tritonclient.http): health, metadata, infer in binary and JSON, errors, hot swap."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest

from mlops_dl.runtime import from_registry
from tests.unit.serve_helpers import fresh_registry, running_server, wait_until

httpclient = pytest.importorskip("tritonclient.http")
from tritonclient.utils import InferenceServerException  # noqa: E402

TOKEN = "s3cret"


def auth() -> dict:
    """A fresh header dict per call: tritonclient writes its own headers into the one given."""
    return {"Authorization": f"Bearer {TOKEN}"}


TEXTS = ["love great awesome", "hate awful", "the meeting is at noon"]


@pytest.fixture()
def server(tiny_registry, tmp_path):
    reg = fresh_registry(tiny_registry, tmp_path / "registry", versions=2)
    log = tmp_path / "pred.jsonl"
    with running_server(reg.root, "tiny@production", "serve.swap_poll_s=0.2",
                        f"serve.token={TOKEN}", f"serve.log_path={log}",
                        "serve.max_texts=4") as srv:
        client = httpclient.InferenceServerClient(srv["url"].removeprefix("http://"))
        yield {**srv, "client": client, "registry": reg, "log": log}
        client.close()


def text_input(texts, binary=True, name="text", datatype="BYTES"):
    tensor = httpclient.InferInput(name, [len(texts)], datatype)
    tensor.set_data_from_numpy(np.array(texts, dtype=object), binary_data=binary)
    return tensor


def test_triton_client_health_metadata_and_infer(server, tiny_registry):
    client = server["client"]
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("tiny") and client.is_model_ready("tiny", "1")
    assert not client.is_model_ready("other")
    meta = client.get_model_metadata("tiny")
    assert meta["versions"] == ["1"] and meta["inputs"][0]["datatype"] == "BYTES"
    assert {o["name"]: o["shape"] for o in meta["outputs"]} == {"label": [-1],
                                                              "probabilities": [-1, 3]}
    direct = from_registry("tiny:1", tiny_registry)
    want_probs = direct.predict_proba(TEXTS)  # (N, L)
    want = [direct.labels[i] for i in want_probs.argmax(1)]
    # binary tensors both ways (the client's default)
    result = client.infer("tiny", [text_input(TEXTS)], headers=auth(), request_id="req-1")
    assert [b.decode() for b in result.as_numpy("label")] == want
    probs = result.as_numpy("probabilities")
    assert probs.dtype == np.float32 and probs.shape == (3, 3)
    assert np.allclose(probs, want_probs, atol=1e-5)
    response = result.get_response()
    assert response["model_name"] == "tiny" and response["model_version"] == "1"
    assert response["id"] == "req-1"
    # JSON tensors both ways, one output asked for
    result = client.infer("tiny", [text_input(TEXTS, binary=False)], headers=auth(),
                          outputs=[httpclient.InferRequestedOutput("label", binary_data=False)])
    assert list(result.as_numpy("label")) == want and result.as_numpy("probabilities") is None

    def logged():  # a writer thread writes the log: wait for both requests' lines
        log = server["log"]
        lines = log.read_text().splitlines() if log.is_file() else []
        return [json.loads(x) for x in lines] if len(lines) >= 6 else None

    lines = wait_until(logged, timeout=20, what="the prediction log lines")
    assert [x["label"] for x in lines[-3:]] == want and lines[-1]["version"] == 1
    metrics = httpx.get(f"{server['url']}/metrics", headers=auth()).text
    assert 'mlops_dl_requests_total{route="/v2/models/tiny/infer",status="200"} 2.0' in metrics


def test_protocol_errors_are_4xx_with_an_error_message(server):
    client = server["client"]
    cases = [
        (dict(model_name="tiny", inputs=[text_input(TEXTS)]), "401", "bearer token"),
        (dict(model_name="other", inputs=[text_input(TEXTS)], headers=auth()), "404",
         "unknown model 'other'"),
        (dict(model_name="tiny", model_version="7", inputs=[text_input(TEXTS)], headers=auth()),
         "404", "version '7' is not loaded"),
        (dict(model_name="tiny", inputs=[text_input(["a"] * 5)], headers=auth()), "422",
         "serve.max_texts=4"),
        (dict(model_name="tiny", inputs=[text_input(["ok", " "])], headers=auth()), "422",
         "inputs[0].data[1]: empty text"),
        (dict(model_name="tiny", inputs=[text_input(TEXTS, name="sentence")], headers=auth()),
         "400", "unknown input 'sentence'"),
        (dict(model_name="tiny", headers=auth(), inputs=[text_input(TEXTS)],
              outputs=[httpclient.InferRequestedOutput("logits")]), "400", "unknown output"),
    ]
    for kwargs, status, message in cases:
        with pytest.raises(InferenceServerException) as e:
            client.infer(**kwargs)
        assert e.value.status() == status and message in e.value.message(), kwargs
    bad_utf8 = b"\x02\x00\x00\x00\xff\xfe"
    head = json.dumps({"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES",
                                   "parameters": {"binary_data_size": len(bad_utf8)}}]}).encode()
    r = httpx.post(f"{server['url']}/v2/models/tiny/infer", content=head + bad_utf8,
                   headers={**auth(), "Inference-Header-Content-Length": str(len(head))})
    assert r.status_code == 400 and "not UTF-8" in r.json()["error"]
    r = httpx.post(f"{server['url']}/v2/models/tiny/infer", content=b"{nope", headers=auth())
    assert r.status_code == 400 and "not a valid JSON" in r.json()["error"]
    assert httpx.get(f"{server['url']}/v2/models/tiny/infer").status_code == 405
    assert httpx.get(f"{server['url']}/v2/elsewhere").json()["error"].startswith("no such")


def test_hot_swap_is_seen_in_model_version(server):
    client = server["client"]
    assert client.infer("tiny", [text_input(TEXTS)], headers=auth()).get_response()[
        "model_version"] == "1"
    server["registry"].promote("tiny:2", "production")

    def swapped():
        response = client.infer("tiny", [text_input(TEXTS)], headers=auth()).get_response()
        return response["model_version"] == "2"

    wait_until(swapped, timeout=30, every=0.2, what="the v2 answer from tiny:2")
    assert client.get_model_metadata("tiny")["versions"] == ["2"]
