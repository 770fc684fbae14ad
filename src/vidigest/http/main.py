"""The HTTP API and web UI: `create_app(settings) -> FastAPI`.

Routes live with their feature (`modules/<feature>/routes.py`) and stay thin: they parse the
request, call a service in one `db_session_context()`, and shape the answer. What they share is
beside this module: dependencies (`deps.py`), the error envelope (`errors.py`), hardening
(`security.py`) and metrics (`metrics.py`).

In embedded mode (no Kafka) the same process runs the workers in a background thread
(`messaging/worker_thread.py`). In distributed mode the API only writes rows and outbox events;
the relay and the workers do the rest.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

from vidigest import __version__
from vidigest.app import Vidigest
from vidigest.config import Settings
from vidigest.http.deps import AppState, AuthDep
from vidigest.http.errors import ERROR_RESPONSES, install_error_handlers
from vidigest.http.metrics import MetricsMiddleware
from vidigest.http.security import (
    UI_CSP,
    RequestGuardMiddleware,
    SecurityHeadersMiddleware,
    docs_csp,
)
from vidigest.http.security_log import configure_security_log
from vidigest.messaging.worker_thread import EmbeddedWorkerThread
from vidigest.modules.health.routes import router as health_router
from vidigest.modules.openai_compat.routes import router as openai_router
from vidigest.modules.search.routes import router as search_router
from vidigest.modules.speakers.routes import router as speakers_router
from vidigest.modules.summary.routes import router as summary_router
from vidigest.modules.transcription.routes import router as transcription_router
from vidigest.modules.videos.routes import router as videos_router
from vidigest.modules.webhooks.routes import router as webhooks_router

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

WEB_DIR = resources.files("vidigest") / "web"
DOCS_ASSETS = "/docs-assets"


class _App(FastAPI):
    """FastAPI whose every answer, even the 500 of Starlette's outermost error layer, carries
    the security headers."""

    def build_middleware_stack(self) -> Any:
        return SecurityHeadersMiddleware(super().build_middleware_stack())


def _install_docs(app: FastAPI) -> None:
    """/docs: Swagger UI from the pinned `swagger-ui-bundle-v2` package, never a CDN (no
    third-party script on the origin that holds the key; works offline). ReDoc is off."""
    import swagger_ui_bundle

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
    vidigest = Vidigest.open(settings)  # the embedded database migrates itself here
    settings.storage_dir.mkdir(parents=True, exist_ok=True)
    workers = None
    dispatcher = None
    if settings.embedded and run_workers:
        # webhooks: the fan-out runs with the stages, the dispatcher in a thread of its own
        dispatcher = vidigest.webhook_dispatcher()
        vidigest.webhook_wake = dispatcher.wake
        workers = EmbeddedWorkerThread(vidigest.embedded_runtime)
    downloads = vidigest.download_pool(workers.wake if workers is not None else None)
    sweeper = vidigest.deletion_sweeper()  # stored files of deleted videos the store kept
    state = AppState(settings, vidigest, workers, downloads)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        downloads.start()
        sweeper.start()
        if dispatcher is not None:
            dispatcher.start()
        if workers is not None:
            workers.start()
        try:
            yield
        finally:
            downloads.stop()  # cancels running downloads: they end FAILED, retryable
            sweeper.stop()
            if workers is not None:
                workers.stop()
            if dispatcher is not None:
                dispatcher.stop()
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
    install_error_handlers(app)
    configure_security_log()
    app.add_middleware(RequestGuardMiddleware, settings=settings)
    app.add_middleware(MetricsMiddleware)  # outside the guard: its refusals are counted too

    app.include_router(health_router)
    routers = (
        videos_router,
        transcription_router,
        summary_router,
        search_router,
        speakers_router,
        openai_router,
        webhooks_router,
    )
    for router in routers:
        app.include_router(router, dependencies=[AuthDep])

    web_dir = str(WEB_DIR)

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(
            os.path.join(web_dir, "index.html"),
            media_type="text/html",
            headers={"Content-Security-Policy": UI_CSP},
        )

    @app.api_route("/favicon.ico", methods=["GET", "HEAD"], include_in_schema=False)
    def favicon() -> FileResponse:
        return FileResponse(os.path.join(web_dir, "favicon.svg"), media_type="image/svg+xml")

    _install_docs(app)

    app.mount("/static", StaticFiles(directory=web_dir), name="static")
    return app


def create_app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory` (several worker processes): settings from the env."""
    from vidigest.config import get_settings

    # a worker process started by uvicorn: the CLI's logging set-up did not run here
    logging.basicConfig(level=logging.ERROR, format=LOG_FORMAT)
    return create_app(get_settings())
