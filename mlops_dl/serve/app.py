"""The HTTP app: POST /v1/predict over a micro-batched Predictor, with health, readiness,
Prometheus metrics, bearer auth, a prediction log and hot swap. Build it with create_app()."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
import uuid
from datetime import datetime, timezone

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from mlops_dl.config import ServeConfig
from mlops_dl.runtime import Predictor, SessionSettings
from mlops_dl.serve.batcher import MicroBatcher, QueueFull
from mlops_dl.serve.predlog import PredictionLog, text_field
from mlops_dl.serve.swap import ModelHolder, is_pinned
from mlops_dl.serve.telemetry import CONTENT_TYPE_LATEST, Telemetry
from mlops_dl.serve.requests import (ApiError, check_content_type, check_token, parse_texts,
                                       read_body, request_id)

log = logging.getLogger("mlops_dl.serve")
ROUTES = {"/v1/predict", "/healthz", "/readyz", "/metrics", "/docs", "/openapi.json"}
SPEC_ENV = "MLOPS_DL_SERVE_SPEC"  # JSON {ref, registry, serve} for multi-worker startup


class PredictRequest(BaseModel):
    texts: list[str] = Field(description="Texts to classify (serve.max_texts at most, each "
                             "serve.max_chars at most).", examples=[["I love this!", "meh"]])


class Prediction(BaseModel):
    label: str
    score: float
    probabilities: dict[str, float]


class PredictResponse(BaseModel):
    request_id: str
    model: str
    version: int | None
    variant: str
    predictions: list[Prediction]
    latency_ms: float


def session_settings(cfg: ServeConfig) -> SessionSettings:
    return SessionSettings(intra_op_threads=cfg.intra_op_threads, spinning=cfg.spinning,
                           graph_optimization=cfg.graph_optimization,
                           batch_size=cfg.max_batch_size)


def registry_holder(cfg: ServeConfig, ref: str, registry: str | None) -> ModelHolder:
    """A ModelHolder that loads ``ref`` from the registry with the serve settings."""
    from mlops_dl.registry import Registry

    settings = session_settings(cfg)
    reg = Registry.open(registry)
    return ModelHolder.from_registry(
        ref, reg, lambda mv: Predictor.from_version(mv, cfg.provider, cfg.variant, settings))


def create_app(cfg: ServeConfig, ref: str, registry: str | None = None,
               holder: ModelHolder | None = None) -> FastAPI:
    """The FastAPI app serving ``ref``; ``holder`` replaces the registry loader in tests."""
    holder = holder or registry_holder(cfg, ref, registry)
    telemetry = Telemetry(ROUTES)
    batcher = MicroBatcher(holder.current, cfg.max_batch_size, cfg.max_wait_ms,
                           cfg.queue_limit, on_batch=telemetry.batch_size.observe)
    state: dict = {"log": None, "load_error": None}

    def on_swap(old: Predictor | None, new: Predictor) -> None:
        telemetry.set_model(new.describe(), old.describe() if old else None)

    holder.on_swap = on_swap

    async def follow_reference() -> None:
        """Load the model, then poll the reference every swap_poll_s for a move."""
        while True:
            if not (holder.ready and is_pinned(holder.ref)):
                try:
                    await asyncio.to_thread(holder.check)
                    state["load_error"] = None
                except Exception as e:  # first load failed: /readyz says why; retry next poll
                    state["load_error"] = f"{type(e).__name__}: {e}"
                    log.error("cannot load %s: %s", holder.ref, e)
            await asyncio.sleep(cfg.swap_poll_s)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        if cfg.log_path:
            state["log"] = PredictionLog(cfg.log_path, cfg.log_max_bytes, cfg.log_backups)
        telemetry.watch(lambda: batcher.depth,
                        lambda: state["log"].dropped if state["log"] else 0)
        batcher.start()
        poller = asyncio.create_task(follow_reference(), name="follow-reference")
        try:
            yield
        finally:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
            await batcher.close()
            if state["log"] is not None:
                state["log"].close()  # flushes every queued line

    app = FastAPI(title="mlops-dl", version="1", lifespan=lifespan,
                  description=f"Sentiment classification with `{ref}` on onnxruntime.")
    app.state.holder, app.state.batcher, app.state.telemetry = holder, batcher, telemetry
    app.add_middleware(_AsgiWrap, wrap=telemetry.middleware)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, e: ApiError):
        return _error(e.status, e.field, e.message, request, e.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException):
        field = "path" if e.status_code in (404, 405) else "request"
        return _error(e.status_code, field, f"{e.detail}: {request.method} {request.url.path}",
                      request, getattr(e, "headers", None))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, e: Exception):
        log.exception("internal error")
        return _error(500, "server", f"internal error: {type(e).__name__}", request)

    @app.get("/healthz", summary="Liveness: the process answers.")
    async def healthz():
        return {"status": "alive"}

    @app.get("/readyz", summary="Readiness: a verified model is loaded.")
    async def readyz():
        body = {"ready": holder.ready, "ref": holder.ref, "swaps": holder.swaps,
                "last_error": holder.last_error or state["load_error"]}
        if holder.ready:
            body["model"] = holder.current().describe()
        return JSONResponse(body, status_code=200 if holder.ready else 503)

    @app.get("/metrics", summary="Prometheus metrics (text format).")
    async def metrics(request: Request):
        check_token(request, cfg.token)
        return Response(telemetry.render(), media_type=CONTENT_TYPE_LATEST)

    @app.post("/v1/predict", response_model=PredictResponse, summary="Classify texts.",
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": PredictRequest.model_json_schema()}}}})
    async def predict(request: Request):
        start = time.perf_counter()
        rid = request.state.request_id = request_id(request, uuid.uuid4().hex)
        check_token(request, cfg.token)
        check_content_type(request)
        texts = parse_texts(await read_body(request, cfg.max_body_bytes), cfg)
        if not holder.ready:
            raise ApiError(503, "model", f"model {holder.ref} is not loaded yet",
                           {"Retry-After": "1"})
        try:
            probs, predictor = await batcher.submit(texts)  # (N, L)
        except QueueFull as e:
            raise ApiError(429, "texts", f"server busy: {e}; retry later",
                           {"Retry-After": "1"}) from None
        results = [predictor.result(row) for row in probs]
        latency_ms = (time.perf_counter() - start) * 1000
        for r in results:
            telemetry.predictions.labels(r["label"]).inc()
        if state["log"] is not None:
            _log_predictions(state["log"], cfg.log_text, rid, texts, results, predictor,
                             latency_ms)
        preds = [{k: r[k] for k in ("label", "score", "probabilities")} for r in results]
        return JSONResponse({"request_id": rid, "model": predictor.model_name,
                             "version": predictor.version, "variant": predictor.variant,
                             "predictions": preds, "latency_ms": round(latency_ms, 3)},
                            headers={"X-Request-ID": rid})

    return app


class _AsgiWrap:
    """Adapts a function ``wrap(asgi_app) -> asgi_app`` to Starlette's add_middleware."""

    def __init__(self, app, wrap):
        self._app = wrap(app)

    async def __call__(self, scope, receive, send):
        await self._app(scope, receive, send)


def _error(status: int, field: str, message: str, request: Request,
           headers: dict | None = None) -> JSONResponse:
    rid = getattr(request.state, "request_id", None) or request_id(request, uuid.uuid4().hex)
    return JSONResponse({"error": {"status": status, "field": field, "message": message},
                         "request_id": rid}, status_code=status,
                        headers={**(headers or {}), "X-Request-ID": rid})


def _log_predictions(plog: PredictionLog, mode: str, rid: str, texts: list[str],
                     results: list[dict], predictor: Predictor, latency_ms: float) -> None:
    ts = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    for i, (text, r) in enumerate(zip(texts, results)):
        plog.write({"ts": ts, "request_id": rid, "index": i, **text_field(text, mode),
                    "label": r["label"], "probabilities": r["probabilities"],
                    "model": predictor.model_name, "version": predictor.version,
                    "variant": predictor.variant, "latency_ms": round(latency_ms, 3)})


def app_from_env() -> FastAPI:
    """uvicorn factory for ``--workers N``: the spec comes from $MLOPS_DL_SERVE_SPEC."""
    spec = json.loads(os.environ[SPEC_ENV])
    cfg = ServeConfig(**spec["serve"])  # validated by the parent process
    if spec.get("per_worker_log") and cfg.log_path:
        root, dot, ext = cfg.log_path.rpartition(".")
        cfg.log_path = f"{root}.{os.getpid()}.{ext}" if dot else f"{cfg.log_path}.{os.getpid()}"
    return create_app(cfg, spec["ref"], spec.get("registry"))


def run_server(cfg: ServeConfig, ref: str, registry: str | None = None) -> None:
    """Serve with uvicorn; ``cfg.workers`` > 1 starts that many processes (one model each)."""
    import dataclasses

    import uvicorn

    kw = dict(host=cfg.host, port=cfg.port, log_level="info", access_log=False,
              timeout_graceful_shutdown=30)
    if cfg.workers <= 1:
        uvicorn.run(create_app(cfg, ref, registry), **kw)
        return
    if cfg.intra_op_threads == 0:  # N processes share the cores instead of each taking all
        cfg = dataclasses.replace(cfg, intra_op_threads=max(1, (os.cpu_count() or 1) // cfg.workers))
    os.environ[SPEC_ENV] = json.dumps({"ref": ref, "registry": registry, "per_worker_log": True,
                                       "serve": dataclasses.asdict(cfg)})
    uvicorn.run("mlops_dl.serve.app:app_from_env", factory=True, workers=cfg.workers, **kw)
