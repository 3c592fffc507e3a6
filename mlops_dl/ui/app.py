"""The UI's FastAPI app: settings, page rendering, the token check, errors as pages.

Read-only unless started with a token; rollback and labelling then need it (form field
``token`` or header ``X-UI-Token`` / ``Authorization: Bearer``), compared in constant time.
"""

from __future__ import annotations

import asyncio
import hmac
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.exceptions import HTTPException as StarletteHTTPException

from mlops_dl.metrics import f1_change_points, format_f1_change
from mlops_dl.errors import MlopsError, RegistryError
from mlops_dl.registry import open_registry
HERE = Path(__file__).resolve().parent
MAX_FORM_BYTES = 16_384
FORM_TIMEOUT_S = 30.0  # the whole form must arrive within this (serve.body_timeout_s's default)
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
CSP = ("default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


class Forbidden(MlopsError):
    """A change asked for without (the right) token."""


class FormError(MlopsError):
    """A state-changing form with a missing or bad field (422, naming the field)."""

    http_status = 422


class Refused(MlopsError):
    """A change the gate refuses without an explicit force (409, naming why)."""

    http_status = 409


@dataclass
class UISettings:
    registry: str | Path | None = None  # a folder or s3://bucket/prefix; None: $MLOPS_DL_REGISTRY or ./registry
    logs: list[str] = field(default_factory=list)
    token: str | None = None  # None: read-only
    canvas: Path | None = None  # None: the project default (canvas: in mlops-dl.yaml)
    annotations: Path = Path("annotations.csv")
    runs_dir: Path = Path("runs")
    studies_dir: Path = Path("studies")
    dashboard_url: str | None = None  # a running optuna-dashboard, linked from study pages


class UI:
    """What the routes share: settings, the registry, templates, the canvas, a small cache."""

    def __init__(self, settings: UISettings):
        self.settings = settings
        self.registry = open_registry(settings.registry)
        self.env = Environment(loader=FileSystemLoader(HERE / "templates"),
                               autoescape=select_autoescape(default=True, default_for_string=True))
        self.env.filters["num"] = _num
        self.env.filters["f1change"] = lambda c: format_f1_change(f1_change_points(c or {}))
        self.cache: dict = {}
        self.cache_lock = threading.Lock()

    def canvas(self):
        from mlops_dl.gates.canvas import find_canvas, load_canvas

        return load_canvas(find_canvas(self.settings.canvas))

    def render(self, request: Request, template: str, status: int = 200, **ctx) -> HTMLResponse:
        html = self.env.get_template(template).render(
            request=request, path=request.url.path, writable=self.settings.token is not None,
            registry_root=str(self.registry.root), **ctx)
        return HTMLResponse(html, status_code=status)

    def cached(self, key, compute):
        """``compute()`` once per key (the monitoring report of unchanged log files)."""
        with self.cache_lock:
            if key in self.cache:
                return self.cache[key]
        value = compute()
        with self.cache_lock:
            if len(self.cache) >= 16:
                self.cache.pop(next(iter(self.cache)))
            self.cache[key] = value
        return value

    async def require_token(self, request: Request) -> None:
        """Raise Forbidden unless the UI has a token and the request carries it."""
        if self.settings.token is None:
            raise Forbidden("this UI is read-only: start it with `mlops-dl ui --token T` to allow "
                            "rollback and labelling")
        sent = request.headers.get("x-ui-token") or ""
        auth = request.headers.get("authorization") or ""
        if not sent and auth.lower().startswith("bearer "):
            sent = auth[7:].strip()
        if not sent:
            sent = (await form_fields(request)).get("token", "")
        if not sent or not hmac.compare_digest(sent.encode(), self.settings.token.encode()):
            raise Forbidden("missing or wrong token: type the token given to `mlops-dl ui --token` "
                            "in the token field at the top of the page")


async def form_fields(request: Request) -> dict[str, str]:
    """The url-encoded form of a POST (the only kind the pages send), first value per field."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return {}
    body = await _read_form(request)
    if len(body) > MAX_FORM_BYTES:
        raise MlopsError(f"form of {len(body)} bytes: at most {MAX_FORM_BYTES}")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        raise MlopsError("form is not UTF-8") from None
    return {k: v[0] for k, v in fields.items()}


async def _read_form(request: Request) -> bytes:
    """The body, at most MAX_FORM_BYTES + 1 bytes of it, within FORM_TIMEOUT_S (read once)."""
    if hasattr(request.state, "form_body"):
        return request.state.form_body
    chunks: list[bytes] = []

    async def collect() -> None:
        size = 0
        async for chunk in request.stream():
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_FORM_BYTES:
                return

    try:
        await asyncio.wait_for(collect(), FORM_TIMEOUT_S)
    except asyncio.TimeoutError:
        raise MlopsError(f"form not received within {FORM_TIMEOUT_S:g} s") from None
    request.state.form_body = b"".join(chunks)
    return request.state.form_body


def cross_origin(request: Request) -> str | None:
    """Why a state-changing request comes from another site (None: same origin, or a client
    that sends neither Origin nor Referer, such as curl with the token).

    The page's Referrer-Policy is same-origin, so a browser sends its real Origin to this
    server and ``null`` to another; ``null`` is refused."""
    host = request.headers.get("host", "")
    expected = f"{request.url.scheme}://{host}".lower()
    origin = request.headers.get("origin")
    if origin is not None:
        return None if origin.lower() == expected else f"Origin {origin!r} is not {expected}"
    referer = request.headers.get("referer")
    if referer is not None:
        scheme, _, rest = referer.partition("://")
        at = f"{scheme}://{rest.split('/', 1)[0]}".lower()
        return None if at == expected else f"Referer {referer[:200]!r} is not on {expected}"
    return None


def _num(value, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value != 0 and abs(value) < 0.01:
            return f"{value:.3g}"
        return f"{value:.{digits}f}"
    return str(value)


def _error_page(ui: UI, request: Request, status: int, message: str) -> HTMLResponse:
    response = ui.render(request, "error.html" if "hx-request" not in request.headers
                         else "flash.html", status=status, status_code=status, message=message)
    if "hx-request" in request.headers:
        response.headers["HX-Retarget"] = "#flash"
        response.headers["HX-Reswap"] = "innerHTML"
    return response


def _install_errors(app: FastAPI, ui: UI) -> None:
    @app.exception_handler(MlopsError)
    async def mlops_error(request: Request, exc: MlopsError):
        status = getattr(exc, "http_status", None) or (
            403 if isinstance(exc, Forbidden) else 404 if isinstance(exc, RegistryError) else 400)
        return _error_page(ui, request, status, str(exc))

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return _error_page(ui, request, 422, f"bad request: {problems}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        message = "no such page" if exc.status_code == 404 else str(exc.detail)
        return _error_page(ui, request, exc.status_code, message)


def create_app(settings: UISettings | None = None) -> FastAPI:
    """The UI app; `mlops-dl ui` serves it with uvicorn."""
    from mlops_dl.ui import routes

    ui = UI(settings or UISettings())
    app = FastAPI(title="mlops-dl UI", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.ui = ui

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        foreign = cross_origin(request) if request.method in STATE_CHANGING else None
        if foreign:
            response = _error_page(ui, request, 403, f"refused a cross-site {request.method}: "
                                   f"{foreign} (changes are accepted from this UI's own pages)")
        else:
            response = await call_next(request)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"  # see cross_origin
        return response

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    _install_errors(app, ui)
    routes.install(app, ui)
    return app
