"""`mlops-dl serve` as a real uvicorn process on loopback: predict, bad input, load with a hot
swap in the middle (zero errors), SIGTERM flushes the prediction log, no torch imported."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading

import httpx
import pytest

from mlops_dl.bench.load import run_load
from tests.unit.serve_helpers import fresh_registry, running_server, wait_until

SERVING_MODULES = ["mlops_dl.runtime", "mlops_dl.serve.app", "mlops_dl.serve.scoring",
                   "mlops_dl.cli.serve", "mlops_dl.bench.run", "mlops_dl.bench.load", "mlops_dl.cli"]


def raw_request(port: int, data: bytes) -> int:
    """Send bytes as they are; return the HTTP status."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        return int(s.recv(4096).split(b" ", 2)[1])


@pytest.fixture()
def server(tiny_registry, tmp_path):
    reg = fresh_registry(tiny_registry, tmp_path / "registry", versions=2)
    log = tmp_path / "logs" / "pred.jsonl"
    with running_server(reg.root, "tiny@production", "serve.swap_poll_s=0.2",
                        f"serve.log_path={log}", "serve.max_chars=300") as srv:
        yield {**srv, "registry": reg, "log": log}


def test_real_server_load_hot_swap_and_clean_shutdown(server, tiny_rows, tmp_path):
    url, port, reg = server["url"], server["port"], server["registry"]
    texts = tmp_path / "texts.txt"  # the load texts: no dependence on ../shared
    texts.write_text("".join(f"{t}\n" for t, _ in tiny_rows), encoding="utf-8")
    r = httpx.post(f"{url}/v1/predict", json={"texts": ["love great", "hate awful"]})
    assert r.status_code == 200 and r.json()["version"] == 1
    sent = 2
    invalid_utf8 = b'{"texts": ["\xff"]}'
    bad = [
        b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(invalid_utf8), invalid_utf8),
        b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 5\r\n\r\n{bad}",
        b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 99999999\r\n\r\n{}",
        b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n",
    ]
    for data in bad:
        assert 400 <= raw_request(port, data) < 500
    r = httpx.post(f"{url}/v1/predict", json={"texts": ["x" * 301]})
    assert r.status_code == 422 and r.json()["error"]["field"] == "texts[0]"

    threading.Timer(1.5, lambda: reg.promote("tiny:2", "production")).start()
    result = run_load(url, texts_file=texts, clients=8, duration_s=4.0, registry=reg.root,
                      runner_s=1.0)
    sent += result["ok"]
    assert result["errors"] == 0, result["error_samples"]
    assert set(result["versions_seen"]) == {"1", "2"}
    assert result["versions_seen"]["1"]["last_s"] <= result["versions_seen"]["2"]["first_s"]
    assert result["runner"]["sent_per_s"] > 0 and result["sent_per_s"] > 0
    metrics = httpx.get(f"{url}/metrics").text
    assert "mlops_dl_model_swaps_total 1.0" in metrics
    assert 'mlops_dl_requests_total{route="/v1/predict",status="200"}' in metrics

    proc = server["proc"]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal
    assert "Application shutdown complete" in proc.stdout.read()
    lines = server["log"].read_text().splitlines()
    assert len(lines) == sent  # every prediction logged, none lost at shutdown
    assert {json.loads(x)["version"] for x in lines} == {1, 2}


def test_serve_refuses_a_bad_reference(tiny_registry):
    out = subprocess.run([sys.executable, "-m", "mlops_dl", "serve", "tiny:9", "--registry",
                          str(tiny_registry)], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "tiny" in out.stderr and "Traceback" not in out.stderr
    out = subprocess.run([sys.executable, "-m", "mlops_dl", "serve", "tiny:1", "--registry",
                          str(tiny_registry), "--set", "train.lr=1"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode != 0 and "only serve.* keys" in out.stderr


def test_serving_path_never_imports_torch():
    code = ("import sys, importlib\n"
            f"for m in {SERVING_MODULES!r}: importlib.import_module(m)\n"
            "bad = [m for m in ('torch', 'lightning', 'transformers') if m in sys.modules]\n"
            "assert not bad, bad\n")
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr


def test_serve_set_without_config_names_a_bad_key(tiny_registry, capsys):
    from mlops_dl.cli import main

    rc = main(["serve", "tiny:1", "--registry", str(tiny_registry), "--set", "serve.nope=1"])
    err = capsys.readouterr().err
    assert rc == 2 and "unknown key serve.nope" in " ".join(err.split()) and "Traceback" not in err
    rc = main(["serve", "tiny:1", "--registry", str(tiny_registry), "--set", "serve.port=high"])
    err = " ".join(capsys.readouterr().err.split())
    assert rc == 2 and "serve.port" in err and "an integer" in err


def test_load_with_a_hot_swap_on_an_s3_registry(tiny_registry, s3_url, tmp_path, tiny_rows):
    """The load test pointed at S3: `serve s3://…@production`, 8 clients, the alias moved by
    another process (the CLI) mid-load; zero failed requests, both versions served in order."""
    from mlops_dl.registry import open_registry
    local = fresh_registry(tiny_registry, tmp_path / "local", versions=2)
    s3 = open_registry(s3_url)
    for v in (1, 2):
        local.copy(f"tiny:{v}", s3)
    s3.promote("tiny:1", "production")
    texts = tmp_path / "texts.txt"
    texts.write_text("".join(f"{t}\n" for t, _ in tiny_rows), encoding="utf-8")
    move = [sys.executable, "-m", "mlops_dl", "registry", "promote", "tiny:2", "production",
            "--registry", s3_url]
    with running_server(s3_url, "tiny@production", "serve.swap_poll_s=0.2",
                        f"serve.log_path={tmp_path / 'pred.jsonl'}") as srv:
        timer = threading.Timer(1.5, lambda: subprocess.run(move, capture_output=True, timeout=60))
        timer.start()
        result = run_load(srv["url"], texts_file=texts, clients=8, duration_s=5.0,
                          registry=s3_url, runner_s=0.5)
        timer.join()
    assert result["errors"] == 0, result["error_samples"]
    assert set(result["versions_seen"]) == {"1", "2"}
    assert result["versions_seen"]["1"]["last_s"] <= result["versions_seen"]["2"]["first_s"]
    assert [h["to"] for h in s3.history("tiny", "production")] == [1, 2]
