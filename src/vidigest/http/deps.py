"""What routes depend on: the application state, the settings, a session (one transaction per
request), the session factory (for routes that run several transactions of their own) and
API-key authentication, each as an `Annotated` type a route names in its signature.

Nothing here imports a feature at run time (the state's types are named for the type checker
only), so routes import from here and the app factory imports the routes, without a circle.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from vidigest.config import Settings
from vidigest.database.session import SessionFactory, db_session_context
from vidigest.http.errors import ApiError, ErrorCode

if TYPE_CHECKING:
    from vidigest.app import Vidigest
    from vidigest.messaging.worker_thread import EmbeddedWorkerThread
    from vidigest.modules.videos.downloads import DownloadPool

API_KEY_HEADER = "X-API-Key"
API_KEY_COOKIE = "vidigest_api_key"  # GET only: lets <video src> and download links authenticate


@dataclass
class AppState:
    """What the app holds while it is up (`app.state.vidigest`)."""

    settings: Settings
    vidigest: Vidigest
    workers: EmbeddedWorkerThread | None
    downloads: DownloadPool  # URL registrations

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


def get_session_factory(state: StateDep) -> SessionFactory:
    """For a route that runs its own transactions (several, or one in a worker thread) with
    `db_session_context(session_factory)`."""
    return state.vidigest.database.session_factory


SessionFactoryDep = Annotated[SessionFactory, Depends(get_session_factory)]


def get_session(session_factory: SessionFactoryDep) -> Iterator[Session]:
    """One transaction per request: committed when the route returns, before the response."""
    with db_session_context(session_factory) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer TOKEN` header (the scheme in any case), else
    None."""
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def require_api_key(request: Request, state: StateDep) -> None:
    """When VIDIGEST_API_KEYS is set, the X-API-Key header, or an `Authorization: Bearer`
    header (what OpenAI's clients send), must hold one of them (the cookie `vidigest_api_key`
    is accepted too, on GET/HEAD only, for media and download links)."""
    keys = state.settings.api_key_list
    if not keys:
        return
    given = request.headers.get(API_KEY_HEADER)
    if given is None:
        given = bearer_token(request.headers.get("authorization"))
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
    raise ApiError(
        ErrorCode.UNAUTHORIZED,
        f"a valid {API_KEY_HEADER} header (or Authorization: Bearer KEY) is required",
    )


AuthDep = Depends(require_api_key)
