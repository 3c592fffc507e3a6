"""The HTTP app: POST /v1/predict over a micro-batched Predictor, with health, readiness,
Prometheus metrics, bearer auth, a prediction log and hot swap. Build it with create_app().

create_app() builds the shared ServeState, then each route group adds itself:
routes.py (errors, /healthz, /readyz, /metrics) and one module per protocol (v1.py, oip.py:
the Open Inference Protocol v2)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os

from fastapi import FastAPI

from mlops_dl import config as config_mod
from mlops_dl.config import ServeConfig
from mlops_dl.errors import ConfigError
from mlops_dl.runtime import freeze_heap, from_version, Predictor
from mlops_dl.registry import parse_ref
from mlops_dl.serve import oip, openapi, server, v1
from mlops_dl.serve.batcher import MicroBatcher
from mlops_dl.serve.predlog import PredictionLog
from mlops_dl.serve.routes import (ServeState, add_error_handlers, add_health_routes,
                                   add_metrics_route)
from mlops_dl.serve.swap import ModelHolder, is_pinned
from mlops_dl.serve.telemetry import Telemetry

log = logging.getLogger("mlops_dl.serve")
ROUTES = {"/healthz", "/readyz", "/metrics", "/docs", "/openapi.json"} | v1.ROUTES
SPEC_ENV = "MLOPS_DL_SERVE_SPEC"  # JSON {ref, registry, serve} for multi-worker startup


def registry_holder(cfg: ServeConfig, ref: str, registry: str | None) -> ModelHolder:
    """A ModelHolder that loads ``ref`` from the registry with the serve settings."""
    from mlops_dl.registry import open_registry
    reg = open_registry(registry)
    return ModelHolder.from_registry(
        ref, reg, lambda mv: from_version(mv, cfg.provider, cfg.variant, cfg, cfg.engine,
                                          purpose="latency",
                                          budget_ms=cfg.latency_budget_ms or None))


def create_app(cfg: ServeConfig, ref: str, registry: str | None = None,
               holder: ModelHolder | None = None) -> FastAPI:
    """The FastAPI app serving ``ref``; ``holder`` replaces the registry loader in tests."""
    state = serve_state(cfg, holder or registry_holder(cfg, ref, registry))
    app = FastAPI(title="mlops-dl", version="1", lifespan=lifespan(state),
                  description=f"Sentiment classification with `{ref}` on onnxruntime.",
                  redirect_slashes=False)  # /v1/predict/ is a 404 JSON, not a 307
    app.state.serve = state
    app.state.holder, app.state.batcher = state.holder, state.batcher
    app.state.telemetry = state.telemetry
    app.add_middleware(_AsgiWrap, wrap=lambda inner: server.limit_head(inner, cfg.max_header_bytes))
    app.add_middleware(_AsgiWrap, wrap=state.telemetry.middleware)
    add_error_handlers(app)
    add_health_routes(app, state)
    add_metrics_route(app, state)
    v1.add_v1_routes(app, state)
    oip.add_oip_routes(app, state)
    openapi.install(app, cfg, parse_ref(state.holder.ref).name)
    return app


def serve_state(cfg: ServeConfig, holder: ModelHolder) -> ServeState:
    """Telemetry, a batcher over ``holder`` and the swap hook that keeps the model metric."""
    telemetry = Telemetry(ROUTES | oip.routes(parse_ref(holder.ref).name))
    batcher = MicroBatcher(holder.current, cfg.max_batch_size, cfg.max_wait_ms,
                           cfg.queue_limit, on_batch=telemetry.batch_size.observe,
                           max_batch_tokens=cfg.max_batch_tokens,
                           max_batch_texts=cfg.max_batch_texts)

    def on_swap(old: Predictor | None, new: Predictor) -> None:
        telemetry.set_model(new.describe(), old.describe() if old else None)
        freeze_heap()  # the loaded model and app leave the GC's generations (tail latency)

    holder.on_swap = on_swap
    return ServeState(cfg, holder, batcher, telemetry)


def lifespan(state: ServeState):
    """Startup: open the log, start the batcher and the reference poller; shutdown in reverse."""
    cfg = state.cfg

    @contextlib.asynccontextmanager
    async def run(app: FastAPI):
        if cfg.log_path:
            state.log = PredictionLog(cfg.log_path, cfg.log_max_bytes, cfg.log_backups,
                                      mask=cfg.log_text == "masked")
        state.telemetry.watch(lambda: state.batcher.depth,
                              lambda: state.log.dropped if state.log else 0)
        state.batcher.start()
        poller = asyncio.create_task(follow_reference(state), name="follow-reference")
        try:
            yield
        finally:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
            await state.batcher.close()
            if state.log is not None:
                state.log.close()  # flushes every queued line

    return run


async def follow_reference(state: ServeState) -> None:
    """Load the model, then poll the reference every swap_poll_s for a move."""
    holder = state.holder
    while True:
        if not (holder.ready and is_pinned(holder.ref)):
            try:
                await asyncio.to_thread(holder.check)
                state.load_error = None
            except Exception as e:  # first load failed: /readyz says why; retry next poll
                state.load_error = f"{type(e).__name__}: {e}"
                log.error("cannot load %s: %s", holder.ref, e)
        await asyncio.sleep(state.cfg.swap_poll_s)


class _AsgiWrap:
    """Adapts a function ``wrap(asgi_app) -> asgi_app`` to Starlette's add_middleware."""

    def __init__(self, app, wrap):
        self._app = wrap(app)

    async def __call__(self, scope, receive, send):
        await self._app(scope, receive, send)


def app_from_env() -> FastAPI:
    """uvicorn factory for ``--workers N``: the spec comes from $MLOPS_DL_SERVE_SPEC."""
    try:
        spec = json.loads(os.environ[SPEC_ENV])
    except (KeyError, json.JSONDecodeError) as e:
        raise ConfigError(f"${SPEC_ENV}: missing or not JSON ({e}); start with `mlops-dl serve`") from None
    cfg = config_mod.build_section(ServeConfig, spec.get("serve"), f"${SPEC_ENV}", "serve.")
    if spec.get("per_worker_log") and cfg.log_path:
        root, dot, ext = cfg.log_path.rpartition(".")
        log_path = f"{root}.{os.getpid()}.{ext}" if dot else f"{cfg.log_path}.{os.getpid()}"
        cfg = dataclasses.replace(cfg, log_path=log_path)
    return create_app(cfg, spec["ref"], spec.get("registry"))


def run_server(cfg: ServeConfig, ref: str, registry: str | None = None) -> None:
    """Serve with uvicorn; ``cfg.workers`` > 1 starts that many processes (one model each).

    A host other than loopback needs serve.token (or $MLOPS_DL_SERVE_TOKEN) or
    serve.allow_anonymous; reads are bounded as server.py describes.
    """
    cfg, warning = server.check_exposure(cfg)
    if warning:
        log.warning(warning)
    if cfg.workers <= 1:
        server.serve_forever(server.uvicorn_config(cfg, create_app(cfg, ref, registry)))
        return
    if cfg.intra_op_threads == 0:  # N processes share the cores instead of each taking all
        cfg = dataclasses.replace(cfg, intra_op_threads=max(1, (os.cpu_count() or 1) // cfg.workers))
    os.environ[SPEC_ENV] = json.dumps({"ref": ref, "registry": registry, "per_worker_log": True,
                                       "serve": dataclasses.asdict(cfg)})
    server.serve_forever(server.uvicorn_config(cfg, "mlops_dl.serve.app:app_from_env",
                                               factory=True, workers=cfg.workers))
