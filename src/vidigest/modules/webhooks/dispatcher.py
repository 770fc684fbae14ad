"""The webhook dispatcher: sends the deliveries the fan-out owes, signed, at least once.

It polls `webhook_deliveries` for pending rows whose `next_attempt_at` has come, claims a few
(`FOR UPDATE SKIP LOCKED` on PostgreSQL, so several dispatchers share the work) by moving
`next_attempt_at` past a lease and counting the attempt, commits, and sends each one from a
bounded pool of threads. No transaction is held while a receiver answers. The answer is
recorded in a transaction of its own: 2xx delivers it; anything else (an error status, no
answer within `timeout`, a refused connection, an address the policy refuses) schedules the
next attempt after `min(backoff_max, backoff * 2^(attempt-1))`, and the attempt
`max_attempts` dead-letters it instead. A dispatcher killed mid-attempt recorded nothing: the
lease runs out and the delivery is sent again, with the same `webhook-id`.

So one slow or dead receiver holds at most `per_endpoint` of the `concurrency` threads, each
for at most `timeout` seconds (one deadline for connecting, sending and the answer's status
line), and its retries wait in the table, never in front of other deliveries.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select

from vidigest import __version__
from vidigest.database.base import utcnow
from vidigest.database.session import SessionFactory, db_session_context
from vidigest.http.errors import ApiError
from vidigest.messaging.delivery import Backoff
from vidigest.modules.videos.sources import DownloadGuard
from vidigest.modules.webhooks.egress import Network, check_receiver
from vidigest.modules.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from vidigest.modules.webhooks.service import DEAD, DELIVERED, PENDING
from vidigest.modules.webhooks.signing import signed_headers

log = logging.getLogger(__name__)

LEASE_MARGIN_SECONDS = 5.0  # a claimed delivery is sent again this long after its timeout
CLAIM_LOOKAHEAD = 4  # rows read per free slot, to find some of endpoints not at their limit
DEFAULT_BACKOFF = Backoff(5.0, 3600.0)
USER_AGENT = f"vidigest-webhooks/{__version__}"


@dataclass(frozen=True)
class Claimed:
    endpoint_id: str
    delivery_id: str
    url: str
    secrets: tuple[str, ...]  # the current secret first; the previous one during a rotation
    body: str
    attempt: int


@dataclass(frozen=True)
class SendResult:
    status_code: int | None
    latency_ms: float
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def http_client(concurrency: int) -> httpx.Client:
    """One client per dispatcher (building one costs ~0.1 s: its TLS context), without
    keep-alive: connections go to checked addresses, and one to an address must not carry
    another host name's request (TLS SNI is per connection)."""
    return httpx.Client(
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=0),
    )


def send(
    claimed: Claimed, networks: Sequence[Network], timeout: float, client: httpx.Client
) -> SendResult:
    """One signed POST of `claimed`, to the address the policy allows (checked now, and
    connected to as checked: the host name travels in the Host header and TLS SNI)."""
    started = time.monotonic()
    guard = DownloadGuard(timeout)
    no_answer = f"no answer within {timeout:g}s"

    def result(code: int | None, error: str | None) -> SendResult:
        return SendResult(code, round((time.monotonic() - started) * 1000, 1), error)

    try:
        url, ip = check_receiver(claimed.url, networks, timeout)
        headers = signed_headers(
            claimed.secrets, claimed.delivery_id, int(time.time()), claimed.body
        )
        headers["user-agent"] = USER_AGENT
        headers["host"] = url.netloc.decode("ascii").rsplit("@", 1)[-1]
        extensions: dict[str, object] = {"trace": guard.trace}
        if url.scheme == "https":
            extensions["sni_hostname"] = url.host
        with client.stream(
            "POST",
            url.copy_with(host=str(ip)),
            content=claimed.body.encode(),
            headers=headers,
            extensions=extensions,
            timeout=httpx.Timeout(timeout),
        ) as response:
            code = response.status_code
        if guard.timed_out:
            return result(None, no_answer)
        return result(code, None if 200 <= code < 300 else f"HTTP {code}")
    except ApiError as exc:
        return result(None, exc.message)
    except httpx.TimeoutException:
        return result(None, no_answer)
    except (httpx.HTTPError, OSError) as exc:
        if guard.timed_out:
            return result(None, no_answer)
        return result(None, _connection_error(exc))
    finally:
        guard.close()


def _secrets(endpoint: WebhookEndpoint, now: datetime) -> tuple[str, ...]:
    previous, until = endpoint.previous_secret, endpoint.previous_secret_until
    if previous and until is not None and until > now:
        return (endpoint.secret, previous)
    return (endpoint.secret,)


def _connection_error(exc: BaseException) -> str:
    if isinstance(exc, httpx.ConnectError):
        return "could not connect to the receiver"
    return f"the request failed ({type(exc).__name__})"


class Dispatcher:
    def __init__(
        self,
        session_factory: SessionFactory,
        *,
        allowed_networks: Sequence[Network] = (),
        timeout: float = 10.0,
        concurrency: int = 8,
        per_endpoint: int = 2,
        max_attempts: int = 8,
        backoff: Backoff = DEFAULT_BACKOFF,
        poll_seconds: float = 1.0,
    ) -> None:
        self.session_factory = session_factory
        self.allowed_networks = list(allowed_networks)
        self.timeout = timeout
        self.concurrency = concurrency
        self.per_endpoint = per_endpoint
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.poll_seconds = poll_seconds
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="vidigest-webhook")
        self._client = http_client(concurrency)
        self._in_flight: dict[Future[None], str] = {}  # -> its endpoint
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # --- one round -----------------------------------------------------------------------------

    def claim(self, limit: int, busy: Mapping[str, int] | None = None) -> list[Claimed]:
        """Up to `limit` due deliveries, leased to this dispatcher and their attempt counted;
        at most `per_endpoint` in flight per endpoint (`busy`: those already in flight), so
        one slow receiver's backlog cannot take every slot."""
        if limit <= 0:
            return []
        in_flight = dict(busy or {})
        with db_session_context(self.session_factory) as session:
            now = utcnow()
            rows = session.execute(
                select(WebhookDelivery, WebhookEndpoint)
                .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                .where(
                    WebhookDelivery.status == PENDING,
                    WebhookDelivery.next_attempt_at <= now,
                    WebhookEndpoint.enabled.is_(True),
                )
                .order_by(WebhookDelivery.next_attempt_at)
                .limit(limit * CLAIM_LOOKAHEAD)
                .with_for_update(skip_locked=True, of=WebhookDelivery)
            ).all()
            lease = timedelta(seconds=self.timeout + LEASE_MARGIN_SECONDS)
            claimed: list[Claimed] = []
            for delivery, endpoint in rows:
                if len(claimed) >= limit or in_flight.get(endpoint.id, 0) >= self.per_endpoint:
                    continue  # left as it is: another dispatcher, or the next round, takes it
                in_flight[endpoint.id] = in_flight.get(endpoint.id, 0) + 1
                delivery.attempts += 1
                delivery.next_attempt_at = now + lease
                claimed.append(
                    Claimed(
                        endpoint.id,
                        delivery.id,
                        endpoint.url,
                        _secrets(endpoint, now),
                        delivery.body,
                        delivery.attempts,
                    )
                )
            return claimed

    def record(self, claimed: Claimed, result: SendResult) -> None:
        """The attempt in the log, and what comes next for the delivery."""
        with db_session_context(self.session_factory) as session:
            delivery = session.get(WebhookDelivery, claimed.delivery_id, with_for_update=True)
            if delivery is None:
                return  # its endpoint was deleted meanwhile
            session.add(
                WebhookAttempt(
                    delivery_id=claimed.delivery_id,
                    attempt=claimed.attempt,
                    status_code=result.status_code,
                    latency_ms=result.latency_ms,
                    error=result.error,
                )
            )
            if delivery.status != PENDING:
                return  # delivered by another dispatcher whose lease overlapped ours
            delivery.last_status_code = result.status_code
            delivery.last_error = result.error
            now = utcnow()
            if result.ok:
                delivery.status = DELIVERED
                delivery.delivered_at = now
            elif claimed.attempt >= self.max_attempts:
                delivery.status = DEAD
                log.warning(
                    "webhook %s dead-lettered after %d attempts: %s",
                    claimed.delivery_id,
                    claimed.attempt,
                    result.error,
                )
            else:
                delay = self.backoff.seconds(claimed.attempt)
                delivery.next_attempt_at = now + timedelta(seconds=delay)

    def _attempt(self, claimed: Claimed) -> None:
        result = send(claimed, self.allowed_networks, self.timeout, self._client)
        log.info(
            "webhook %s attempt %d: %s (%.0f ms)",
            claimed.delivery_id,
            claimed.attempt,
            result.status_code or result.error,
            result.latency_ms,
        )
        failures = 0
        while True:  # the answer is kept unless the database stays away past the lease
            try:
                self.record(claimed, result)
                return
            except Exception:
                failures += 1
                if failures > 5 or self._stop.is_set():
                    log.exception("webhook %s: could not record the attempt", claimed.delivery_id)
                    return
                time.sleep(self.backoff.seconds(failures) / 10)

    def dispatch_due(self) -> int:
        """Start the due deliveries there is room for; how many were started."""
        with self._lock:
            self._in_flight = {f: e for f, e in self._in_flight.items() if not f.done()}
            room = self.concurrency - len(self._in_flight)
            busy = Counter(self._in_flight.values())
        claimed = self.claim(room, busy)
        for item in claimed:
            future = self._pool.submit(self._attempt, item)
            with self._lock:
                self._in_flight[future] = item.endpoint_id
            future.add_done_callback(lambda _f: self._wake.set())
        return len(claimed)

    # --- the loop ------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Until `stop` is set: send what is due, look again every `poll_seconds` (at once
        when an attempt ends or `wake()` is called)."""
        failures = 0
        while not stop.is_set():
            try:
                started = self.dispatch_due()
                failures = 0
            except Exception:
                failures += 1
                log.exception("webhook dispatcher: cannot claim deliveries")
                stop.wait(self.backoff.seconds(failures) / 5)
                continue
            if not started:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        """Run in a daemon thread of this process (embedded mode)."""
        self._thread = threading.Thread(
            target=self.run, args=(self._stop,), name="vidigest-webhooks", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._client.close()
