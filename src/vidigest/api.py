"""The HTTP API and web UI: `create_app(settings) -> FastAPI`.

Routes live with their feature (`modules/<feature>/routes.py`) and stay thin: they parse the
request, call a service in one `db_session_context()`, and shape the answer. This module holds
what they share: the application state, typed dependencies (`StateDep`, `SettingsDep`,
`SessionDep`), API-key authentication, the JSON error format and HTTP metrics. The hardening
every answer shares (headers, Host and Origin guards, security log) is in `security.py`.

In embedded mode (no Kafka) the same process runs the workers: a background thread runs
`EmbeddedRuntime.run_until_idle()` whenever a registration wakes it (and every few seconds), so
long ASR work never blocks request handling. In distributed mode the API only writes rows and
outbox events; the relay and the workers do the rest.
"""

from __future__ import annotations

import hmac
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http import HTTPStatus
from importlib import resources
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import Counter, Histogram
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

from vidigest import __version__
from vidigest.common.exceptions import InvalidQueryError, MediaError, NotFoundError
from vidigest.config import Settings
from vidigest.database.session import db_session_context

log = logging.getLogger(__name__)
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

API_KEY_HEADER = "X-API-Key"
API_KEY_COOKIE = "vidigest_api_key"  # GET only: lets <video src> and download links authenticate

# --- errors --------------------------------------------------------------------------------------


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    """Every error answer: {"error": {"code": "...", "message": "..."}}."""

    error: ErrorBody


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_response(
    status: int,
    code: str,
    message: str,
    headers: Mapping[str, str] | None = None,
    /,
    **extra: Any,
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}, **extra}, status_code=status, headers=headers
    )


def _code_for(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


def _validation_message(errors: list[Any]) -> str:
    parts = []
    for error in errors[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "request"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def _install_error_handlers(app: FastAPI) -> None:
    from vidigest.modules.videos.service import VideoStateError
    from vidigest.security import log_refusal

    async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        log_refusal(request.scope, exc.status, exc.code, exc.message)
        return error_response(exc.status, exc.code, exc.message)

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        message = exc.detail if isinstance(exc.detail, str) else _code_for(exc.status_code)
        code = _code_for(exc.status_code)
        log_refusal(request.scope, exc.status_code, code, message)
        return error_response(exc.status_code, code, message, exc.headers)

    async def on_validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = list(exc.errors())
        details = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))}
            for e in errors
        ]
        return error_response(422, "validation_error", _validation_message(errors), details=details)

    async def on_not_found(_: Request, exc: Exception) -> JSONResponse:
        return error_response(404, "not_found", str(exc))

    async def on_invalid_query(_: Request, exc: Exception) -> JSONResponse:
        return error_response(422, "invalid_query", str(exc))

    async def on_state_error(_: Request, exc: Exception) -> JSONResponse:
        return error_response(409, "conflict", str(exc))

    async def on_media_error(request: Request, exc: Exception) -> JSONResponse:
        log_refusal(request.scope, 415, "unsupported_media", str(exc))
        return error_response(415, "unsupported_media", str(exc))

    async def on_unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return error_response(500, "internal_error", "internal server error")

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(NotFoundError, on_not_found)
    app.add_exception_handler(InvalidQueryError, on_invalid_query)
    app.add_exception_handler(VideoStateError, on_state_error)
    app.add_exception_handler(MediaError, on_media_error)
    app.add_exception_handler(Exception, on_unexpected)


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": HTTPStatus(status).phrase}
    for status in (401, 404, 422)
}

# --- embedded workers ----------------------------------------------------------------------------


class EmbeddedWorkerThread:
    """Runs the in-process workers (relay + transcription + summary) off the request path.

    `wake()` after a registration; it also looks for work every `poll_seconds` (events left by
    an earlier run, retries). The runtime, and with it the models, is built on first use inside
    the thread, so start-up stays fast.
    """

    def __init__(self, make_runtime: Callable[[], Any], poll_seconds: float = 5.0) -> None:
        self._make_runtime = make_runtime
        self.poll_seconds = poll_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vidigest-workers", daemon=True)
        self.busy = False

    def start(self) -> None:
        self._thread.start()
        self.wake()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        runtime = None
        while not self._stop.is_set():
            self._wake.wait(self.poll_seconds)
            self._wake.clear()
            if self._stop.is_set():
                break
            self.busy = True
            try:
                if runtime is None:
                    runtime = self._make_runtime()
                runtime.run_until_idle()
            except Exception:
                log.exception("embedded workers: run failed; trying again on the next wake-up")
            finally:
                self.busy = False


# --- state and dependencies ----------------------------------------------------------------------


@dataclass
class AppState:
    settings: Settings
    vidigest: Any  # vidigest.app.Vidigest (imported lazily: it pulls in the model code)
    workers: EmbeddedWorkerThread | None
    downloads: Any = None  # vidigest.modules.videos.downloads.DownloadPool (URL registrations)

    def wake_workers(self) -> None:
        if self.workers is not None:
            self.workers.wake()


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.vidigest
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def get_settings(state: StateDep) -> Settings:
    return state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_session(state: StateDep) -> Iterator[Session]:
    """One transaction per request: committed when the route returns, before the response."""
    with db_session_context(state.vidigest.database.session_factory) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def require_api_key(request: Request, state: StateDep) -> None:
    """When VIDIGEST_API_KEYS is set, the X-API-Key header must hold one of them (the cookie
    `vidigest_api_key` is accepted too, on GET/HEAD only, for media and download links)."""
    keys = state.settings.api_key_list
    if not keys:
        return
    given = request.headers.get(API_KEY_HEADER)
    if given is None and request.method in ("GET", "HEAD"):
        given = request.cookies.get(API_KEY_COOKIE)
    if given is not None:
        given_bytes = given.encode("utf-8", "surrogateescape")
        # compare with every key (no early exit): the time taken says nothing about which matched
        matched = False
        for key in keys:
            matched |= hmac.compare_digest(given_bytes, key.encode())
        if matched:
            return
    raise ApiError(401, "unauthorized", f"a valid {API_KEY_HEADER} header is required")


AuthDep = Depends(require_api_key)

# --- HTTP metrics --------------------------------------------------------------------------------

HTTP_REQUESTS = Counter(
    "vidigest_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
HTTP_SECONDS = Histogram(
    "vidigest_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120),
)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class MetricsMiddleware:
    """Counts requests and times them per route template (pure ASGI: bodies stay streamed)."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = str(scope.get("method", ""))
            HTTP_REQUESTS.labels(method, template, str(status)).inc()
            HTTP_SECONDS.labels(method, template).observe(time.perf_counter() - started)


# --- the application -----------------------------------------------------------------------------

WEB_DIR = resources.files("vidigest") / "web"
DOCS_ASSETS = "/docs-assets"


class _App(FastAPI):
    """FastAPI whose every answer, even the 500 of Starlette's outermost error layer, carries
    the security headers."""

    def build_middleware_stack(self) -> Any:
        from vidigest.security import SecurityHeadersMiddleware

        return SecurityHeadersMiddleware(super().build_middleware_stack())


def _install_docs(app: FastAPI) -> None:
    """/docs: Swagger UI from the pinned `swagger-ui-bundle-v2` package, never a CDN (no
    third-party script on the origin that holds the key; works offline). ReDoc is off."""
    import swagger_ui_bundle

    from vidigest.security import docs_csp

    body = get_swagger_ui_html(
        openapi_url=app.openapi_url or "/openapi.json",
        title=f"{app.title} API",
        swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
        swagger_ui_parameters={"validatorUrl": None},  # the default calls validator.swagger.io
    ).body
    page = bytes(body).decode()
    policy = docs_csp(page)

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(page, headers={"Content-Security-Policy": policy})

    assets = StaticFiles(directory=str(swagger_ui_bundle.swagger_ui_path))
    app.mount(DOCS_ASSETS, assets, name="docs-assets")


def create_app(settings: Settings, *, run_workers: bool = True) -> FastAPI:
    """The API + web UI over `settings`. In embedded mode, `run_workers` also runs the
    in-process workers in a background thread while the app is up."""
    from vidigest.app import Vidigest
    from vidigest.modules.health.routes import router as health_router
    from vidigest.modules.search.routes import router as search_router
    from vidigest.modules.summary.routes import router as summary_router
    from vidigest.modules.transcription.routes import router as transcription_router
    from vidigest.modules.videos.routes import router as videos_router
    from vidigest.security import UI_CSP, RequestGuardMiddleware, configure_security_log

    vidigest = Vidigest.open(settings)  # the embedded database migrates itself here
    settings.storage_dir.mkdir(parents=True, exist_ok=True)
    workers = None
    if settings.embedded and run_workers:
        workers = EmbeddedWorkerThread(vidigest.embedded_runtime)
    state = AppState(settings, vidigest, workers)
    state.downloads = vidigest.download_pool(state.wake_workers)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state.downloads.start()
        if workers is not None:
            workers.start()
        try:
            yield
        finally:
            state.downloads.stop()  # cancels running downloads: they end FAILED, retryable
            if workers is not None:
                workers.stop()
            vidigest.close()

    app = _App(
        title="vidigest",
        version=__version__,
        description="Videos in; transcripts, summaries, chapters and search out.",
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
        docs_url=None,
        redoc_url=None,
    )
    app.state.vidigest = state
    _install_error_handlers(app)
    configure_security_log()
    app.add_middleware(RequestGuardMiddleware, settings=settings)
    app.add_middleware(MetricsMiddleware)  # outside the guard: its refusals are counted too

    app.include_router(health_router)
    for router in (videos_router, transcription_router, summary_router, search_router):
        app.include_router(router, dependencies=[AuthDep])

    web_dir = str(WEB_DIR)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(
            os.path.join(web_dir, "index.html"),
            media_type="text/html",
            headers={"Content-Security-Policy": UI_CSP},
        )

    _install_docs(app)

    app.mount("/static", StaticFiles(directory=web_dir), name="static")
    return app


def create_app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory` (several worker processes): settings from the env."""
    from vidigest.config import get_settings

    # a worker process started by uvicorn: the CLI's logging set-up did not run here
    logging.basicConfig(level=logging.ERROR, format=LOG_FORMAT)
    return create_app(get_settings())
