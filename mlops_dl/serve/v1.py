"""POST /v1/predict: texts in, one label with probabilities per text out."""

from __future__ import annotations

import time
import uuid

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from mlops_dl.serve.requests import (ApiError, check_content_type, check_token, parse_texts,
                                     read_body, request_id)
from mlops_dl.serve.routes import ServeState, classify

ROUTES = {"/v1/predict"}


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


def add_v1_routes(app: FastAPI, state: ServeState) -> None:
    """POST /v1/predict over the state's batcher; logs each prediction when the log is on."""
    cfg, holder = state.cfg, state.holder

    @app.post("/v1/predict", response_model=PredictResponse, summary="Classify texts.",
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": PredictRequest.model_json_schema()}}}})
    async def predict(request: Request):
        start = time.perf_counter()
        rid = request.state.request_id = request_id(request, uuid.uuid4().hex)
        check_token(request, cfg.token)
        check_content_type(request)
        texts = parse_texts(await read_body(request, cfg.max_body_bytes, cfg.body_timeout_s), cfg)
        if not holder.ready:
            raise ApiError(503, "model", f"model {holder.ref} is not loaded yet",
                           {"Retry-After": "1"})
        _, predictor, results, latency_ms = await classify(state, texts, rid, start, "texts")
        preds = [{k: r[k] for k in ("label", "score", "probabilities")} for r in results]
        return JSONResponse({"request_id": rid, "model": predictor.model_name,
                             "version": predictor.version, "variant": predictor.variant,
                             "predictions": preds, "latency_ms": round(latency_ms, 3)},
                            headers={"X-Request-ID": rid})
