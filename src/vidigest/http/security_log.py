"""The security log: every refusal worth an operator's eye, on the `vidigest.security` logger.

Apart from `security.py` because both the request guard there and the error handlers in
`errors.py` log refusals, and `security.py` answers in the envelope `errors.py` shapes: one
small module both can import keeps them out of a circle.
"""

from __future__ import annotations

import logging

from vidigest.http.asgi import Scope

SECURITY_LOG = logging.getLogger("vidigest.security")

# statuses that are a refusal worth an operator's eye (400/421: the Host guard)
LOGGED_REFUSALS = frozenset({400, 401, 403, 413, 415, 421})


def printable(text: str, limit: int = 200) -> str:
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
        printable(str(scope.get("path", ""))),
        printable(message),
        address,
        extra={"client": address, "status": status, "code": code},
    )


def configure_security_log() -> None:
    """Make refusals visible at the default log level (the CLI's root level is ERROR), unless
    the operator set this logger's level on purpose."""
    if SECURITY_LOG.level == logging.NOTSET:
        SECURITY_LOG.setLevel(logging.WARNING)
