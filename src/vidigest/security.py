"""HTTP hardening every answer shares: response headers, the Host allow-list, the cross-origin
write guard, safe Content-Disposition values and the security log.

Why each exists (the threat is a hostile web page in the user's browser, or a hostile file):

- **Headers.** The API serves user files on the origin where the web UI keeps its key. Every
  answer says `X-Content-Type-Options: nosniff` (no guessing HTML out of an MP3) and carries a
  Content-Security-Policy: the UI gets `default-src 'self'`, everything else (JSON, media,
  downloads) a `sandbox` policy that runs no script even if a browser renders it as a page.
  `frame-ancestors 'none'` and `Referrer-Policy: no-referrer` everywhere.
- **Host allow-list.** DNS rebinding points a hostile name at 127.0.0.1: the browser then sends
  `Host: evil.example` to this server. Only known names are answered (421).
- **Origin guard.** Without keys, any page could POST an upload or DELETE a video (CSRF): writes
  whose `Origin` is foreign (or, without Origin, whose `Sec-Fetch-Site` is `cross-site`) get 403.
  Clients that send neither (curl, SDKs) are not browsers and pass.
- **Security log.** Refusals go to the `vidigest.security` logger at WARNING, with the reason and
  the client address and never a key, a cookie or a body.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import unicodedata
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Literal
from urllib.parse import quote, urlsplit

from starlette.datastructures import Headers, MutableHeaders

from vidigest.api import error_response
from vidigest.config import Settings

SECURITY_LOG = logging.getLogger("vidigest.security")

# statuses that are a refusal worth an operator's eye (400/421: the Host guard)
LOGGED_REFUSALS = frozenset({400, 401, 403, 413, 415, 421})

# JSON, media, downloads, errors: nothing runs, nothing loads, nothing frames it
STRICT_CSP = (
    "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; sandbox"
)
# the web UI: its own script, style, media and API calls; no inline script or style
UI_CSP = (
    "default-src 'self'; base-uri 'none'; object-src 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
_ALWAYS: tuple[tuple[str, str], ...] = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),  # frame-ancestors for browsers without CSP level 2
)
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# --- Content-Security-Policy for a page with inline script (Swagger UI's start-up) --------------

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def docs_csp(html: str) -> str:
    """The policy of the /docs page: its assets from here, its one inline start-up script
    allowed by hash (not 'unsafe-inline'), data:/blob: images and media that Swagger UI makes
    from responses."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in _INLINE_SCRIPT.findall(html)
    )
    return (
        f"default-src 'self'; script-src 'self' {hashes}; img-src 'self' data: blob:; "
        "media-src 'self' blob:; base-uri 'none'; object-src 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    )


# --- Content-Disposition (RFC 6266 + RFC 5987) ---------------------------------------------------

# bidirectional controls can disguise an extension ("clip\u202egpj.exe" shows as "clipexe.jpg")
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
_ASCII_UNSAFE = re.compile(r"[^A-Za-z0-9 ._()+,=-]")


def _clean_name(name: str) -> str:
    """The name without control characters (CR/LF would end the header), bidi controls, lone
    surrogates (a non-UTF-8 file name) or path separators."""
    out = []
    for char in name:
        if 0xD800 <= ord(char) <= 0xDFFF:
            out.append("\ufffd")
        elif char in _BIDI_CONTROLS:
            continue
        elif unicodedata.category(char) == "Cc" or char in "/\\":
            out.append("_")
        else:
            out.append(char)
    return "".join(out).strip()


def _ascii_fallback(name: str, default_stem: str) -> str:
    """A plain-ASCII rendering for clients without RFC 5987 (accents dropped, not letters)."""
    decomposed = unicodedata.normalize("NFKD", name)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    ascii_name = _ASCII_UNSAFE.sub("_", plain.encode("ascii", "replace").decode())
    stem, dot, suffix = ascii_name.rpartition(".")
    if not (dot and suffix.isalnum() and len(suffix) <= 10):  # not an extension
        stem, dot, suffix = ascii_name, "", ""
    if not any(c.isalnum() for c in stem):
        stem = default_stem
    return f"{stem}{dot}{suffix}"


def content_disposition(
    kind: Literal["inline", "attachment"], filename: str, default_stem: str = "download"
) -> str:
    """A Content-Disposition value that is valid whatever `filename` holds: an ASCII
    `filename="..."` for old clients and, when that lost anything, `filename*=UTF-8''...` with
    the full name percent-encoded (non-ASCII letters kept)."""
    name = _clean_name(filename) or default_stem
    fallback = _ascii_fallback(name, default_stem)
    value = f'{kind}; filename="{fallback}"'
    if fallback != name:
        value += "; filename*=UTF-8''" + quote(name, safe="", encoding="utf-8", errors="strict")
    return value


# --- the security log ----------------------------------------------------------------------------


def _printable(text: str, limit: int = 200) -> str:
    """One log line per refusal: control characters from the request are shown escaped."""
    shown = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text[:limit])
    return shown + ("…" if len(text) > limit else "")


def log_refusal(scope: Scope, status: int, code: str, message: str) -> None:
    """Log a refusal: status, code, method, path, reason, client address. Never headers, query
    strings or bodies (they may hold keys)."""
    if status not in LOGGED_REFUSALS:
        return
    client = scope.get("client")
    address = str(client[0]) if client else "unknown"
    SECURITY_LOG.warning(
        "refused %d %s: %s %s: %s (client %s)",
        status,
        code,
        scope.get("method", ""),
        _printable(str(scope.get("path", ""))),
        _printable(message),
        address,
        extra={"client": address, "status": status, "code": code},
    )


def configure_security_log() -> None:
    """Make refusals visible at the default log level (the CLI's root level is ERROR), unless
    the operator set this logger's level on purpose."""
    if SECURITY_LOG.level == logging.NOTSET:
        SECURITY_LOG.setLevel(logging.WARNING)


# --- Host and Origin -----------------------------------------------------------------------------


def host_name(host_header: str) -> str | None:
    """The name in a Host header, lower case, without port or brackets; None if malformed."""
    host = host_header.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            return None
        name, rest = host[1:end], host[end + 1 :]
    else:
        name, colon, port = host.partition(":")
        rest = colon + port
    if rest and not (rest.startswith(":") and rest[1:].isdigit()):
        return None
    return name.rstrip(".") or None


def host_allowed(name: str, allowed: list[str]) -> bool:
    for entry in allowed:
        if entry == "*" or entry == name:
            return True
        if entry.startswith("*.") and name.endswith(entry[1:]):
            return True
    return False


_DEFAULT_PORTS = {"http": ":80", "https": ":443"}


def _netloc(value: str, scheme: str) -> str:
    value = value.strip().lower()
    default = _DEFAULT_PORTS.get(scheme, "")
    return value[: -len(default)] if default and value.endswith(default) else value


def normal_origin(origin: str) -> str | None:
    """scheme://host[:port] in lower case without a default port; None if not http(s)."""
    try:
        parts = urlsplit(origin.strip().lower())
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.netloc:
        return None  # includes "null": sandboxed frames, file: and data: pages
    return f"{parts.scheme}://{_netloc(parts.netloc, parts.scheme)}"


def origin_allowed(origin: str, host_header: str, allowed_origins: frozenset[str]) -> bool:
    """Same origin as the request's own Host (any scheme: TLS may end at a proxy), or listed."""
    normal = normal_origin(origin)
    if normal is None:
        return False
    if normal in allowed_origins:
        return True
    scheme, _, netloc = normal.partition("://")
    return netloc == _netloc(host_header, scheme)


# --- middleware ----------------------------------------------------------------------------------


class SecurityHeadersMiddleware:
    """Adds the headers above to every answer. It wraps the whole app (even the 500 answer of
    Starlette's outermost error layer), and keeps a route's own Content-Security-Policy."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _ALWAYS:
                    headers[name] = value
                if "content-security-policy" not in headers:
                    headers["Content-Security-Policy"] = STRICT_CSP
            await send(message)

        await self.app(scope, receive, send_with_headers)


class RequestGuardMiddleware:
    """Refuses, before any route runs: a Host not on the allow-list (421; 400 without one) and a
    state-changing request from a foreign origin (403). Both answered in the JSON envelope."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        allowed = settings.allowed_host_list
        self.allowed_hosts = allowed
        self.any_host = "*" in allowed
        self.allowed_origins = frozenset(
            o for o in map(normal_origin, settings.allowed_origin_list) if o is not None
        )

    def _refusal(self, scope: Scope) -> tuple[int, str, str] | None:
        headers = Headers(scope=scope)
        host = headers.get("host")
        if host is None:
            return 400, "bad_request", "a Host header is required"
        if not self.any_host:
            name = host_name(host)
            if name is None or not host_allowed(name, self.allowed_hosts):
                return (
                    421,
                    "misdirected_request",
                    f"this server does not answer for the host name {_printable(host, 100)!r} "
                    "(if it is yours, add it to VIDIGEST_ALLOWED_HOSTS)",
                )
        if scope.get("method") in STATE_CHANGING:
            origin = headers.get("origin")
            if origin is not None:
                if not origin_allowed(origin, host, self.allowed_origins):
                    return 403, "forbidden", "cross-origin request refused (foreign Origin)"
            elif headers.get("sec-fetch-site", "").lower() == "cross-site":
                return 403, "forbidden", "cross-origin request refused (Sec-Fetch-Site)"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = self._refusal(scope)
            if refusal is not None:
                status, code, message = refusal
                log_refusal(scope, status, code, message)
                await error_response(status, code, message)(scope, receive, send)
                return
        await self.app(scope, receive, send)
