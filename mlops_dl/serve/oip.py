"""The Open Inference Protocol (KServe v2, Triton's HTTP API) beside /v1/predict.
(Their OpenAPI description is written out in openapi.py: the handlers read raw bodies.)

    GET  /v2/health/live | /v2/health/ready | /v2
    GET  /v2/models/{name}[/versions/{v}] | .../ready
    POST /v2/models/{name}[/versions/{v}]/infer   BYTES "text" [N] -> BYTES "label" [N],
                                                  FP32 "probabilities" [N, num_labels]

Requests go through the same micro-batcher, limits, bearer token, prediction log and hot swap
as v1 (a request is answered by one version, named in ``model_version``). Errors are the
protocol's ``{"error": "..."}`` with a 4xx (5xx only for the server's own faults).
"""

from __future__ import annotations

import functools
import json
import re
import time
import uuid

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from mlops_dl import __version__
from mlops_dl.registry import parse_ref
from mlops_dl.serve import oip_tensors as tensors
from mlops_dl.serve.requests import ApiError, check_texts, check_token, read_body, request_id
from mlops_dl.serve.routes import ServeState, classify

INPUT = "text"
OUTPUTS = ("label", "probabilities")
PLATFORM = "mlops-dl_onnxruntime"


def routes(name: str) -> set[str]:
    """The concrete paths, for the per-route metrics."""
    base = f"/v2/models/{name}"
    return {"/v2", "/v2/health/live", "/v2/health/ready", base, f"{base}/ready",
            f"{base}/infer"}


def error(e: ApiError) -> JSONResponse:
    where = f"{e.field}: " if e.field not in ("body", "model", "path") else ""
    return JSONResponse({"error": f"{where}{e.message}"}, status_code=e.status,
                        headers=e.headers)


def protocol_errors(handler):
    """Answer an ApiError raised in ``handler`` in the protocol's error format."""

    @functools.wraps(handler)
    async def wrapped(*args, **kwargs):
        try:
            return await handler(*args, **kwargs)
        except ApiError as e:
            return error(e)

    return wrapped


def add_oip_routes(app: FastAPI, state: ServeState) -> None:
    """The v2 health, metadata, readiness and infer routes over the state's model."""
    holder = state.holder

    def loaded(name: str, version: str | None = None):
        """The serving Predictor when ``name`` (and ``version``) is what is loaded."""
        served = parse_ref(holder.ref).name
        if name != served:
            raise ApiError(404, "model", f"unknown model {name!r} (this server serves {served!r})")
        if not holder.ready:
            raise ApiError(503, "model", f"model {holder.ref} is not loaded yet",
                           {"Retry-After": "1"})
        predictor = holder.current()
        if version not in (None, "", str(predictor.version)):
            raise ApiError(404, "model", f"{name} version {version!r} is not loaded "
                           f"(serving version {predictor.version})")
        return predictor

    @app.get("/v2/health/live", summary="OIP: the server is live.", include_in_schema=False)
    async def live():
        return {"live": True}

    @app.get("/v2/health/ready", summary="OIP: the model is loaded.", include_in_schema=False)
    async def ready():
        return JSONResponse({"ready": holder.ready}, status_code=200 if holder.ready else 503)

    @app.get("/v2", summary="OIP: server metadata.", include_in_schema=False)
    async def server_metadata():
        return {"name": "mlops-dl", "version": __version__,
                "extensions": ["binary_tensor_data"]}

    @app.get("/v2/models/{name}", summary="OIP: model metadata.", include_in_schema=False)
    @app.get("/v2/models/{name}/versions/{version}", include_in_schema=False)
    @protocol_errors
    async def model_metadata(name: str, version: str | None = None):
        p = loaded(name, version)
        return {"name": name, "versions": [str(p.version)], "platform": PLATFORM,
                "inputs": [{"name": INPUT, "datatype": "BYTES", "shape": [-1]}],
                "outputs": [{"name": "label", "datatype": "BYTES", "shape": [-1]},
                            {"name": "probabilities", "datatype": "FP32",
                             "shape": [-1, len(p.labels)]}],
                "parameters": {"labels": p.labels, "variant": p.variant}}

    @app.get("/v2/models/{name}/ready", summary="OIP: the model is ready.", include_in_schema=False)
    @app.get("/v2/models/{name}/versions/{version}/ready", include_in_schema=False)
    @protocol_errors
    async def model_ready(name: str, version: str | None = None):
        loaded(name, version)
        return {"name": name, "ready": True}

    @app.post("/v2/models/{name}/infer", summary="OIP: classify a BYTES tensor of texts.",
              include_in_schema=False)
    @app.post("/v2/models/{name}/versions/{version}/infer", include_in_schema=False)
    @protocol_errors
    async def infer(name: str, request: Request, version: str | None = None):
        return await _infer(state, request, lambda: loaded(name, version))

    @app.api_route("/v2/{rest:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"],
                   include_in_schema=False)
    async def unknown(rest: str, request: Request):
        where = f"{request.method} /v2/{rest}"
        if re.fullmatch(r"models/[^/]+(/versions/[^/]+)?/infer", rest):
            return JSONResponse({"error": f"{where}: use POST"}, status_code=405,
                                headers={"Allow": "POST"})
        if re.fullmatch(r"(health/(live|ready))|(models/[^/]+(/versions/[^/]+)?(/ready)?)", rest):
            return JSONResponse({"error": f"{where}: use GET"}, status_code=405,
                                headers={"Allow": "GET"})
        return JSONResponse({"error": f"no such endpoint: {where}"}, status_code=404)


async def _infer(state: ServeState, request: Request, loaded) -> Response:
    """Parse, check, batch, answer; the same limits, log and metrics as v1."""
    start = time.perf_counter()
    cfg = state.cfg
    rid = request.state.request_id = request_id(request, uuid.uuid4().hex)
    check_token(request, cfg.token)
    loaded()  # 404 for another model or version, 503 before the first load
    body = await read_body(request, cfg.max_body_bytes, cfg.body_timeout_s)
    doc, buffer = tensors.split_body(body, request.headers.get(tensors.HEADER_LENGTH))
    data = tensors.input_texts(doc, buffer, INPUT)
    texts = check_texts(tensors.decode_texts(data, "inputs[0].data"), cfg, "inputs[0].data")
    wanted = tensors.requested_outputs(doc, OUTPUTS)
    probs, predictor, results, _ = await classify(state, texts, rid, start, "inputs")
    labels = np.array([r["label"] for r in results], dtype=object)  # (N,)
    outputs, tail = tensors.encode_outputs(
        {"label": ("BYTES", [len(texts)], labels),
         "probabilities": ("FP32", [len(texts), len(predictor.labels)],
                           probs.astype(np.float32))}, wanted)  # (N, L)
    answer = {"model_name": predictor.model_name, "model_version": str(predictor.version),
              "outputs": outputs, "parameters": {"request_id": rid,
                                                 "variant": predictor.variant}}
    if isinstance(doc.get("id"), str):
        answer["id"] = doc["id"]
    head = json.dumps(answer).encode("utf-8")
    headers = {"X-Request-ID": rid}
    if not tail:
        return Response(head, media_type="application/json", headers=headers)
    headers["Inference-Header-Content-Length"] = str(len(head))
    return Response(head + tail, media_type="application/octet-stream", headers=headers)
