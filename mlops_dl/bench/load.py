"""`mlops-dl bench --load URL`: concurrent clients against a running server (loopback only),
compared in the same run with the in-process runner on the same texts.

The clients speak HTTP/1.1 keep-alive over asyncio streams (a few microseconds of CPU per
request), so on a small machine the load generator takes little from the server it measures.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from mlops_dl.errors import MlopsError
from mlops_dl.metrics import latency_percentiles

MAX_CLIENTS, MAX_DURATION_S = 256, 600.0


def loopback(url: str) -> tuple[str, int]:
    """(host, port) of ``url``; refuses anything but a loopback http:// address."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        ok = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = False
    if parts.scheme != "http" or not ok:
        raise MlopsError(f"--load {url}: only http:// on a loopback address (127.0.0.1, ::1, "
                         "localhost) can be load-tested")
    return host, parts.port or 80


class _Conn:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, host: str, port: int, token: str):
        self.host, self.port = host, port
        self.auth = f"Authorization: Bearer {token}\r\n" if token else ""
        self.reader = self.writer = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = (f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json"
                f"\r\n{self.auth}Content-Length: {len(body)}\r\n\r\n").encode()
        self.writer.write(head + body)
        await self.writer.drain()
        status_line = await self.reader.readuntil(b"\r\n")
        headers = await self.reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in headers.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        payload = await self.reader.readexactly(length)
        if b"connection: close" in headers.lower():
            self.close()
        return int(status_line.split()[1]), payload

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def _client(host, port, token, texts, start_index, stop_at, out) -> None:
    conn, i = _Conn(host, port, token), start_index
    while time.perf_counter() < stop_at:
        body = json.dumps({"texts": [texts[i % len(texts)]]}).encode()
        i += 1
        t0 = time.perf_counter()
        try:
            status, payload = await conn.post("/v1/predict", body)
            version = json.loads(payload).get("version") if status == 200 else None
        except (OSError, asyncio.IncompleteReadError, ValueError) as e:
            status, version = 0, None
            out["errors"].append(f"{type(e).__name__}: {e}")
            conn.close()
        out["rows"].append((t0, time.perf_counter() - t0, status, version))
    conn.close()


def _server_info(host: str, port: int) -> dict:
    import urllib.request

    with urllib.request.urlopen(f"http://{host}:{port}/readyz", timeout=10) as r:
        return json.loads(r.read())


def runner_throughput(info: dict, texts: list[str], batch: int, seconds: float,
                      registry=None) -> dict:
    """The in-process runner on the same model version and texts: sent/s at ``batch``."""
    from mlops_dl.runtime import from_registry
    model = info["model"]
    pred = from_registry(f"{model['model']}:{model['version']}", registry,
                                   provider="cpu", variant=model["variant"],
                                   engine=model.get("engine", "onnxruntime"))
    pred.predict_proba(texts[:batch])
    done, start, i = 0, time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        chunk = [texts[(i + k) % len(texts)] for k in range(batch)]
        pred.predict_proba(chunk)
        done, i = done + batch, i + batch
    return {"batch": batch, "sent_per_s": done / (time.perf_counter() - start),
            "model": pred.ref, "variant": pred.variant}


def run_load(url: str, texts_file: Path | None = None, clients: int = 32,
             duration_s: float = 20.0, token: str = "", registry=None,
             runner_baseline: bool = True, runner_s: float = 10.0) -> dict:
    """Load-test ``url`` with ``clients`` concurrent one-text requests for ``duration_s``."""
    from mlops_dl.bench.run import read_texts

    host, port = loopback(url)
    if not 1 <= clients <= MAX_CLIENTS or not 0 < duration_s <= MAX_DURATION_S:
        raise MlopsError(f"--clients must be 1..{MAX_CLIENTS} and --duration 0..{MAX_DURATION_S}")
    texts, _, source = read_texts(texts_file, None, [], 0)
    try:
        info = _server_info(host, port)
    except OSError as e:
        raise MlopsError(f"--load {url}: server not reachable or not ready ({e})") from None
    result = {"url": url, "clients": clients, "duration_s": duration_s, "texts": source,
              "server_model": info.get("model")}
    if runner_baseline and info.get("model"):
        result["runner"] = runner_throughput(info, texts, 32, runner_s, registry)
    out = {"rows": [], "errors": []}

    async def main():
        stop_at = time.perf_counter() + duration_s
        await asyncio.gather(*(_client(host, port, token, texts, k * 997, stop_at, out)
                               for k in range(clients)))

    started = time.perf_counter()
    asyncio.run(main())
    result.update(summarise(out, time.perf_counter() - started, started))
    if "runner" in result:
        result["server_over_runner"] = result["sent_per_s"] / result["runner"]["sent_per_s"]
    return result


def summarise(out: dict, elapsed: float, started: float) -> dict:
    rows = out["rows"]
    ok = [r for r in rows if r[2] == 200]
    lat = np.asarray([r[1] for r in ok]) * 1000
    statuses: dict[str, int] = {}
    versions: dict[str, dict] = {}
    for t0, _, status, version in rows:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
        if version is not None:
            v = versions.setdefault(str(version), {"requests": 0, "first_s": t0 - started})
            v["requests"] += 1
            v["last_s"] = t0 - started
    pct = latency_percentiles(lat)
    return {"requests": len(rows), "ok": len(ok), "errors": len(rows) - len(ok),
            "error_samples": out["errors"][:5], "statuses": statuses,
            "sent_per_s": len(ok) / elapsed, "elapsed_s": elapsed, "latency": pct,
            "versions_seen": versions}


def print_load(result: dict, console) -> None:
    lat = result.get("latency", {})
    console.print(f"[bold]load[/] {result['url']}: {result['clients']} clients x "
                  f"{result['elapsed_s']:.1f}s, model {result.get('server_model', {}).get('model')}")
    console.print(f"  requests {result['requests']}, ok {result['ok']}, errors "
                  f"{result['errors']} {result['statuses']}")
    console.print(f"  throughput {result['sent_per_s']:.1f} sent/s; latency p50 "
                  f"{lat.get('p50_ms', 0):.1f} ms, p95 {lat.get('p95_ms', 0):.1f} ms, "
                  f"p99 {lat.get('p99_ms', 0):.1f} ms")
    if "runner" in result:
        console.print(f"  in-process runner ({result['runner']['model']}, batch 32): "
                      f"{result['runner']['sent_per_s']:.1f} sent/s -> server/runner "
                      f"{100 * result['server_over_runner']:.0f} % (target >= 70 %)")
    for v, s in result["versions_seen"].items():
        console.print(f"  version {v}: {s['requests']} requests, seen "
                      f"{s['first_s']:.1f}s .. {s['last_s']:.1f}s")
    for e in result["error_samples"]:
        console.print(f"  [red]error[/] {e}")
