"""The delivery policy: what a consumer loop does with one handler call. Both transports (the
embedded broker and the Kafka worker) call it, so a message is retried, counted and given up on
the same way whatever carries it (the shape of arroyo's processing strategy, reduced to one
message in flight).

    handler(message, attempt) -> HandleResult, or an exception
        -> Done (commit and move on)
         | DeadLetter (copy to the transport's dead-letter place, then commit and move on)
         | Retry (wait `after` seconds, then call again with `attempt`)

The rules, in one place:

* An exception from the handler is a failure of this attempt, as if it had returned RETRY with
  the exception as the error. It never escapes the loop: a message popped from the embedded
  queue would otherwise wait for the next process start, and a Kafka partition would stall.
* A *transient* RETRY (the database is unreachable) does not count as an attempt: an outage
  delays a message however long it lasts, but never dead-letters it. Its backoff grows with the
  number of outage retries in a row.
* Any other RETRY counts: the next call gets `attempt + 1`, after `backoff(attempt)`. At the
  final attempt (`attempt >= max_attempts`) the message is dead-lettered instead: the handler
  normally decides that itself (it records the failure), this is the safety net for a handler
  that cannot (a bug that raises, a failure that could not be recorded). A handler that has a
  `gave_up` method (`RecordsGiveUp`) is told, so that the video is set FAILED there too.
* DEAD_LETTERED from the handler: the failure is recorded already (`recorded=True`); the Kafka
  worker still copies the message to the dead-letter topic.

Batches (`deliver_batch`, for a handler that is a `BatchHandler` with `batch_size > 1`): the
handler commits several first deliveries in one transaction and answers for the prefix it
finished; each answer becomes Done or DeadLetter as above. The transport then delivers the first
message past that prefix alone, with `deliver` at attempt 1 (a failed batch try is not counted:
nothing of it was committed), and the rest in later batches, so a partition's order is kept.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from sqlalchemy.exc import StatementError

from vidigest.messaging.transport import HandleResult, Message, Outcome

if TYPE_CHECKING:
    from vidigest.config import Settings

log = logging.getLogger(__name__)

Handler = Callable[[Message, int], HandleResult]


@runtime_checkable
class BatchHandler(Protocol):
    """A handler that can commit several messages in one transaction (`MessageHandler` of a
    cheap step). `handle_batch` returns the results of the prefix of `messages` it finished
    (committed), never RETRY; the transport delivers the rest."""

    @property
    def batch_size(self) -> int: ...

    def handle_batch(self, messages: Sequence[Message]) -> list[HandleResult]: ...


def batch_size(handler: Handler) -> int:
    """How many messages a transport may hand `handler` at once: 1 unless it is a
    `BatchHandler` asking for more."""
    if isinstance(handler, BatchHandler):
        return max(1, handler.batch_size)
    return 1


@runtime_checkable
class RecordsGiveUp(Protocol):
    """A handler that wants to know when the loop gave up on a message on its behalf (the
    `MessageHandler` sets the video FAILED)."""

    def gave_up(self, message: Message, error: str, attempts: int) -> None: ...


@dataclass(frozen=True)
class Backoff:
    """Exponential, capped: the wait after failure number `n` (1-based) is
    `min(cap, base * 2 ** (n - 1))`. Message retries and `run-all`'s process restarts use it."""

    base: float
    cap: float

    def seconds(self, n: int) -> float:
        return float(min(self.cap, self.base * 2 ** max(0, n - 1)))


@dataclass(frozen=True)
class Done:
    """The message is handled (PROCESSED or DUPLICATE): commit it and move on."""

    result: HandleResult


@dataclass(frozen=True)
class DeadLetter:
    """Give up on the message: put it where failures are kept, then commit it and move on.

    `recorded` says whether the handler recorded the failure itself (it returned DEAD_LETTERED:
    dead-letter row, status FAILED). When False, the policy gave up on the handler's behalf and
    the transport's dead-letter place is the only record of the message."""

    error: str
    recorded: bool

    @property
    def result(self) -> HandleResult:
        return HandleResult(Outcome.DEAD_LETTERED, self.error)


@dataclass(frozen=True)
class Retry:
    """Call the handler again after `after` seconds, with `attempt`; `outages` is the count of
    uncounted (transient) retries in a row, which grows their backoff."""

    after: float
    attempt: int
    outages: int
    error: str | None
    transient: bool

    @property
    def result(self) -> HandleResult:
        return HandleResult(Outcome.RETRY, self.error, self.transient)


Verdict = Done | DeadLetter | Retry


@dataclass(frozen=True)
class DeliveryPolicy:
    max_attempts: int
    backoff: Backoff

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliveryPolicy:
        """`VIDIGEST_MAX_ATTEMPTS`, `VIDIGEST_RETRY_BACKOFF_SECONDS`, `..._MAX_SECONDS`."""
        backoff = Backoff(settings.retry_backoff_seconds, settings.retry_backoff_max_seconds)
        return cls(settings.max_attempts, backoff)

    def deliver(
        self, handler: Handler, message: Message, attempt: int, outages: int = 0, name: str = ""
    ) -> Verdict:
        """Call `handler` once for try number `attempt` and decide what comes next. Never
        raises for what the handler raises (`Exception`; a `BaseException` such as
        KeyboardInterrupt still stops the process)."""
        try:
            outcome: HandleResult | Exception = handler(message, attempt)
        except Exception as exc:
            log.exception("%s: handler raised on %s (attempt %d)", name, message.origin, attempt)
            outcome = exc
        verdict = self.decide(outcome, attempt, outages)
        if isinstance(verdict, DeadLetter) and not verdict.recorded:
            log.error(
                "%s: %s still failing at its final attempt %d; dead-lettering it: %s",
                name,
                message.origin,
                attempt,
                verdict.error,
            )
            _tell_gave_up(handler, message, verdict.error, attempt, name)
        return verdict

    def deliver_batch(
        self, handler: BatchHandler, messages: Sequence[Message], name: str = ""
    ) -> list[Done | DeadLetter]:
        """The verdicts of the prefix of `messages` the handler finished in one transaction
        (see the module docstring). Never raises for what the handler raises: an exception,
        or a RETRY in the answer, ends the prefix there (nothing after it is trusted)."""
        try:
            results = handler.handle_batch(messages)
        except Exception:
            log.exception("%s: batch handler raised on %d message(s)", name, len(messages))
            return []
        verdicts: list[Done | DeadLetter] = []
        for result in results[: len(messages)]:
            verdict = self.decide(result, 1)
            if isinstance(verdict, Retry):
                break
            verdicts.append(verdict)
        return verdicts

    def decide(self, outcome: HandleResult | Exception, attempt: int, outages: int = 0) -> Verdict:
        """The rules of the module docstring, as a pure function of one call's outcome."""
        if isinstance(outcome, Exception):
            outcome = HandleResult(Outcome.RETRY, describe(outcome))
        if outcome.outcome is Outcome.DEAD_LETTERED:
            return DeadLetter(outcome.error or "dead-lettered by the handler", recorded=True)
        if outcome.outcome is not Outcome.RETRY:
            return Done(outcome)
        if outcome.transient:
            return Retry(
                self.backoff.seconds(outages + 1), attempt, outages + 1, outcome.error, True
            )
        if attempt >= self.max_attempts:
            error = outcome.error or "retry requested at the final attempt"
            return DeadLetter(error, recorded=False)
        return Retry(self.backoff.seconds(attempt), attempt + 1, 0, outcome.error, False)


def _tell_gave_up(handler: Handler, message: Message, error: str, attempt: int, name: str) -> None:
    """The one place a given-up message reaches its handler, whichever transport delivered it.
    Best effort: the transport keeps the message whatever happens here."""
    if not isinstance(handler, RecordsGiveUp):
        return
    try:
        handler.gave_up(message, error, attempt)
    except Exception:
        log.exception("%s: could not record the failure of %s", name, message.origin)


def describe(exc: BaseException) -> str:
    """The exception in words a user may read: `Type: message`, the error text both transports
    put on a dead letter and the handler on a failed video. A database error says which kind it
    was, never its text: that holds the SQL statement and its parameters (transcript text)."""
    if isinstance(exc, StatementError):
        orig = getattr(exc, "orig", None)
        kind = type(orig).__name__ if orig is not None else type(exc).__name__
        return f"the results could not be stored (database error: {kind})"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
