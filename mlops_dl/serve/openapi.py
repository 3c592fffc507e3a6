"""The OpenAPI document of `mlops-dl serve`: every route, request body and status it answers.

FastAPI documents the 200 of each route; this adds what the code can also return (each status
with its error body: v1's ``{"error": {status, field, message}, "request_id"}``, the Open
Inference Protocol's ``{"error": "..."}``), /metrics as Prometheus text, and the v2 routes
written out by hand (the handlers read raw bodies, so FastAPI cannot see them).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from mlops_dl.config import ServeConfig

REASONS = {400: "Bad request (bad JSON, UTF-8 or header value)", 401: "Missing or wrong bearer token",
           404: "Unknown model or version", 408: "Body not received within serve.body_timeout_s",
           413: "Body over serve.max_body_bytes", 415: "Content-Type is not application/json",
           422: "Well-formed JSON that breaks a rule (field named)", 429: "Queue full: retry later",
           431: "Request head over serve.max_header_bytes", 503: "No model loaded yet"}
V1_ERROR = {"type": "object", "required": ["error"], "properties": {
    "error": {"type": "object", "required": ["status", "field", "message"], "properties": {
        "status": {"type": "integer"}, "field": {"type": "string"},
        "message": {"type": "string"}}},
    "request_id": {"type": "string"}}}
V2_ERROR = {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}
PARAMETERS = {"type": "object", "description": "Protocol parameters (an object)."}
# a text must hold one character that str.isspace() is false for (runtime.is_blank), spelt out
# because regex engines disagree on what \s covers
NOT_BLANK = ("[^\\t\\n\\x0b\\x0c\\r \\x1c-\\x1f\\x85\\xa0\\u1680\\u2000-\\u200a"
             "\\u2028\\u2029\\u202f\\u205f\\u3000]")


def text_schema(cfg: ServeConfig) -> dict:
    """One text as the serve limits accept it."""
    return {"type": "string", "minLength": 1, "maxLength": cfg.max_chars, "pattern": NOT_BLANK}


def _responses(statuses, schema: dict) -> dict:
    return {str(s): {"description": REASONS[s], "content": {"application/json": {"schema": schema}}}
            for s in statuses}


def install(app: FastAPI, cfg: ServeConfig, name: str) -> None:
    """Make ``app.openapi()`` return the full document (built once, then cached)."""

    def document() -> dict:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version,
                              description=app.description, routes=app.routes)
            _complete_v1(doc, cfg)
            doc["paths"].update(v2_paths(cfg, name))
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = document


def _complete_v1(doc: dict, cfg: ServeConfig) -> None:
    paths = doc["paths"]
    token = [401] if cfg.token else []
    for path, item in paths.items():
        for op in item.values():
            op.get("responses", {}).pop("422", None)  # FastAPI's validation body: not ours
            op.setdefault("responses", {}).update(_responses([431], V1_ERROR))
    predict = paths["/v1/predict"]["post"]
    body = predict["requestBody"]["content"]["application/json"]["schema"]
    body.update(additionalProperties=False)
    body["properties"]["texts"].update(minItems=1, maxItems=cfg.max_texts,
                                       items=text_schema(cfg))
    predict["responses"].update(_responses([400, *token, 408, 413, 415, 422, 429, 503], V1_ERROR))
    ready = paths["/readyz"]["get"]["responses"]
    ready["503"] = {"description": "No verified model loaded (last_error says why)",
                    "content": {"application/json": {"schema": {"type": "object"}}}}
    metrics = paths["/metrics"]["get"]["responses"]
    metrics["200"] = {"description": "Prometheus text format", "content": {
        "text/plain": {"schema": {"type": "string"}}}}
    metrics.update(_responses(token, V1_ERROR))


def _infer_body(cfg: ServeConfig) -> dict:
    count = {"type": "integer", "minimum": 1, "maximum": cfg.max_texts}
    text_input = {"type": "object", "required": ["name", "datatype", "shape", "data"],
                  "properties": {
        "name": {"const": "text"}, "datatype": {"const": "BYTES"},
        "shape": {"type": "array", "minItems": 1, "maxItems": 2, "prefixItems": [count],
                  "items": {"const": 1}, "description": "[N] or [N, 1]: N = len(data)"},
        "data": {"type": "array", "minItems": 1, "maxItems": cfg.max_texts,
                 "items": text_schema(cfg)},
        "parameters": PARAMETERS}}
    output = {"type": "object", "required": ["name"], "properties": {
        "name": {"enum": ["label", "probabilities"]}, "parameters": PARAMETERS}}
    return {"type": "object", "required": ["inputs"], "properties": {
        "id": {"type": "string"},
        "inputs": {"type": "array", "minItems": 1, "maxItems": 1, "items": text_input},
        "outputs": {"type": "array", "items": output}, "parameters": PARAMETERS},
        "description": "One BYTES input 'text' of shape [N] (or [N, 1]) with N texts in "
                       "'data'; the shape must match the data (400 otherwise)."}


def _infer_answer() -> dict:
    tensor = {"type": "object", "required": ["name", "datatype", "shape"], "properties": {
        "name": {"type": "string"}, "datatype": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer"}}, "data": {"type": "array"},
        "parameters": PARAMETERS}}
    return {"type": "object", "required": ["model_name", "model_version", "outputs"],
            "properties": {"model_name": {"type": "string"}, "model_version": {"type": "string"},
                           "id": {"type": "string"}, "parameters": PARAMETERS,
                           "outputs": {"type": "array", "items": tensor}}}


def _get(summary: str, body: dict, statuses) -> dict:
    return {"get": {"summary": summary, "responses": {
        "200": {"description": "OK", "content": {"application/json": {"schema": body}}},
        **_responses(statuses, V2_ERROR)}}}


def v2_paths(cfg: ServeConfig, name: str) -> dict:
    """The Open Inference Protocol routes for the served model ``name``."""
    model = {"name": "name", "in": "path", "required": True,
             "schema": {"type": "string", "enum": [name]}}
    version = {"name": "version", "in": "path", "required": True,
               "schema": {"type": "string", "pattern": "^[1-9][0-9]{0,8}$"}}
    token = [401] if cfg.token else []
    infer = {"post": {
        "summary": "OIP: classify a BYTES tensor of texts.",
        "description": "JSON, or (binary tensor data extension) the JSON request followed by "
                       "binary tensors, its length in the Inference-Header-Content-Length header.",
        "requestBody": {"required": True, "content": {
            "application/json": {"schema": _infer_body(cfg)}}},
        "responses": {"200": {"description": "Labels and probabilities", "content": {
            "application/json": {"schema": _infer_answer()},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
            **_responses([400, *token, 404, 408, 413, 422, 429, 431, 503], V2_ERROR)}}}
    obj = {"type": "object"}
    meta = _get("OIP: model metadata.", obj, [404, 431, 503])
    ready = _get("OIP: the model is ready.", obj, [404, 431, 503])
    base = "/v2/models/{name}"
    out = {"/v2/health/live": _get("OIP: the server is live.", obj, [431]),
           "/v2/health/ready": _get("OIP: the model is loaded.", obj, [431]),
           "/v2": _get("OIP: server metadata.", obj, [431])}
    out["/v2/health/ready"]["get"]["responses"]["503"] = {
        "description": REASONS[503], "content": {"application/json": {"schema": obj}}}
    for prefix, params in ((base, [model]), (f"{base}/versions/{{version}}", [model, version])):
        out[prefix] = {**meta, "parameters": params}
        out[f"{prefix}/ready"] = {**ready, "parameters": params}
        out[f"{prefix}/infer"] = {**infer, "parameters": params}
    return out
