"""What every protocol's routes share: the serving state, JSON errors, health, readiness and
metrics. A protocol module (v1.py, ...) adds its own routes with ``add_*_routes(app, state)``."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from mlops_dl.config import ServeConfig
from mlops_dl.errors import clip
from mlops_dl.serve.batcher import MicroBatcher, QueueFull
from mlops_dl.serve.predlog import PredictionLog, log_predictions
from mlops_dl.serve.requests import ApiError, check_token, request_id
from mlops_dl.serve.swap import ModelHolder
from mlops_dl.serve.telemetry import CONTENT_TYPE_LATEST, Telemetry

log = logging.getLogger("mlops_dl.serve")
CLIENT_CLOSED = 499  # not sent (nobody is listening); what telemetry counts


@dataclass
class ServeState:
    """What the routes share; ``log`` opens and ``load_error`` changes while the app runs."""
    cfg: ServeConfig
    holder: ModelHolder
    batcher: MicroBatcher
    telemetry: Telemetry
    log: PredictionLog | None = None
    load_error: str | None = None  # why the first load failed, until a load succeeds


def error_response(status: int, field: str, message: str, request: Request,
                   headers: dict | None = None) -> JSONResponse:
    """The one error body: {"error": {status, field, message}, "request_id"}."""
    rid = getattr(request.state, "request_id", None) or request_id(request, uuid.uuid4().hex)
    return JSONResponse({"error": {"status": status, "field": field, "message": message},
                         "request_id": rid}, status_code=status,
                        headers={**(headers or {}), "X-Request-ID": rid})


def route_paths(app: FastAPI) -> set[str]:
    return {path for route in app.routes if (path := getattr(route, "path", None))}


def add_error_handlers(app: FastAPI) -> None:
    """ApiError, HTTP errors (404/405/...) and anything unexpected answer as error_response."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, e: ApiError):
        return error_response(e.status, e.field, e.message, request, e.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException):
        field = "path" if e.status_code in (404, 405) else "request"
        path = request.url.path
        hint = ""
        if e.status_code == 404 and path.endswith("/") and path.rstrip("/") in route_paths(app):
            hint = f" (no trailing slash: {path.rstrip('/')})"
        return error_response(e.status_code, field,
                              f"{e.detail}: {request.method} {clip(path)}{hint}",
                              request, getattr(e, "headers", None))

    @app.exception_handler(ClientDisconnect)
    async def client_gone(request: Request, e: ClientDisconnect):
        """The client hung up mid-request: counted as 499 (nginx's code), no traceback."""
        log.info("client disconnected: %s %s", request.method, request.url.path)
        return error_response(CLIENT_CLOSED, "request", "client closed the connection", request)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, e: Exception):
        log.exception("internal error")
        return error_response(500, "server", f"internal error: {type(e).__name__}", request)


def add_health_routes(app: FastAPI, state: ServeState) -> None:
    """GET /healthz (the process answers) and GET /readyz (a verified model is loaded)."""
    holder = state.holder

    @app.get("/healthz", summary="Liveness: the process answers.")
    async def healthz():
        return {"status": "alive"}

    @app.get("/readyz", summary="Readiness: a verified model is loaded.")
    async def readyz():
        body = {"ready": holder.ready, "ref": holder.ref, "swaps": holder.swaps,
                "last_error": holder.last_error or state.load_error}
        if holder.ready:
            body["model"] = holder.current().describe()
        return JSONResponse(body, status_code=200 if holder.ready else 503)


def add_metrics_route(app: FastAPI, state: ServeState) -> None:
    """GET /metrics: Prometheus text format, behind the bearer token when one is set."""

    @app.get("/metrics", summary="Prometheus metrics (text format).")
    async def metrics(request: Request):
        check_token(request, state.cfg.token)
        return Response(state.telemetry.render(), media_type=CONTENT_TYPE_LATEST)


async def classify(state: ServeState, texts: list[str], rid: str, start: float,
                   field: str) -> tuple[object, object, list[dict], float]:
    """Every protocol's inference: the micro-batcher (429 naming ``field`` when its queue is
    full), the predictions-by-label metric and the prediction log.
    Returns (probabilities # (N, L), the Predictor that answered, results, latency ms)."""
    try:
        probs, predictor = await state.batcher.submit(texts)  # (N, L)
    except QueueFull as e:
        raise ApiError(429, field, f"server busy: {e}; retry later",
                       {"Retry-After": "1"}) from None
    results = [predictor.result(row) for row in probs]
    latency_ms = (time.perf_counter() - start) * 1000
    for r in results:
        state.telemetry.predictions.labels(r["label"]).inc()
    if state.log is not None:
        log_predictions(state.log, state.cfg.log_text, rid, texts, results, predictor,
                        latency_ms)
    return probs, predictor, results, latency_ms
