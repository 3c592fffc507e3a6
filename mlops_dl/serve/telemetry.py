"""Prometheus metrics for one app instance (its own CollectorRegistry, so apps never collide)."""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import CONTENT_TYPE_LATEST  # noqa: F401  (re-exported for app.py)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class Telemetry:
    """Request count/latency by route and status, batch sizes, queue depth, model info."""

    def __init__(self, routes: set[str]):
        self.routes = routes
        self.registry = r = CollectorRegistry()
        self.requests = Counter("mlops_dl_requests", "HTTP requests by route and status.",
                                ["route", "status"], registry=r)
        self.latency = Histogram("mlops_dl_request_latency_seconds",
                                 "HTTP request latency by route and status.", ["route", "status"],
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.batch_size = Histogram("mlops_dl_batch_size", "Texts per inference batch.",
                                    buckets=BATCH_BUCKETS, registry=r)
        self.queue_depth = Gauge("mlops_dl_queue_depth", "Texts waiting for a batch.",
                                 registry=r)
        self.predictions = Counter("mlops_dl_predictions", "Predictions by label.", ["label"],
                                   registry=r)
        self.model_info = Gauge("mlops_dl_model_info", "The model version being served (1).",
                                ["name", "version", "engine", "variant", "precision", "accepted",
                                 "provider", "chosen_by"],
                                registry=r)
        self.swaps = Counter("mlops_dl_model_swaps", "Hot swaps to another version.", registry=r)
        self.log_dropped = Gauge("mlops_dl_prediction_log_dropped",
                                 "Prediction-log records dropped (writer too far behind).",
                                 registry=r)

    def watch(self, queue_depth: Callable[[], float], log_dropped: Callable[[], float]) -> None:
        self.queue_depth.set_function(queue_depth)
        self.log_dropped.set_function(log_dropped)

    def set_model(self, describe: dict, previous: dict | None = None) -> None:
        if previous is not None:
            self.model_info.remove(*self._model_labels(previous))
            self.swaps.inc()
        self.model_info.labels(*self._model_labels(describe)).set(1)

    @staticmethod
    def _model_labels(d: dict) -> tuple[str, ...]:
        chosen_by = (d.get("choice") or {}).get("source", "config")  # bench.json | calibration
        accepted = {True: "yes", False: "no", None: "unknown"}[d.get("accepted")]
        return (d["model"], str(d["version"]), d.get("engine", "onnxruntime"), d["variant"],
                d.get("precision", "?"), accepted, d["provider"], chosen_by)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def middleware(self, app):
        """Pure ASGI middleware: count and time every HTTP request by route and status."""
        routes = self.routes

        async def wrapped(scope, receive, send):
            if scope["type"] != "http":
                return await app(scope, receive, send)
            route = scope["path"] if scope["path"] in routes else "other"
            status = {"code": 500}
            start = time.perf_counter()

            async def send_wrapper(message):
                if message["type"] == "http.response.start":
                    status["code"] = message["status"]
                await send(message)

            try:
                await app(scope, receive, send_wrapper)
            finally:
                code = str(status["code"])
                self.requests.labels(route, code).inc()
                self.latency.labels(route, code).observe(time.perf_counter() - start)

        return wrapped
