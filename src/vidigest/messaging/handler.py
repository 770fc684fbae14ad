"""The one message handler every worker uses.

    decode -> idempotency check -> begin (status) -> run (long work, no transaction held)
    -> one transaction: processed mark + results + status log + outbox -> commit
    -> the transport commits the offset when the result says `done`.

A step supplies only the domain parts (`begin`, `run`, `complete`); retries, failure
recording and dead-lettering are decided here, once, for every stage. How often a message is
tried comes from the one `DeliveryPolicy` (`delivery.py`) the transports follow too.

Where a status changes to FAILED: the handler does not know the videos feature; `app.py`
injects the failure recorder (`VideoService.fail`), called here for a failure the handler
records itself (`_dead_letter`) and for a message the delivery loop gave up on (`gave_up`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Generic, ParamSpec, Protocol, TypeVar

from sqlalchemy import text as sql_text
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from vidigest.common.exceptions import (
    MalformedMessageError,
    VideoNotFoundError,
    VideoStateError,
    VidigestError,
)
from vidigest.common.stages import Stage
from vidigest.common.text import user_reason
from vidigest.common.types import Event
from vidigest.database.session import SessionFactory, db_session_context
from vidigest.messaging.codec import decode_event
from vidigest.messaging.dead_letters import DeadLetterService
from vidigest.messaging.delivery import DeliveryPolicy, describe
from vidigest.messaging.inbox import ProcessedMessageService
from vidigest.messaging.transport import HandleResult, Message, Outcome

log = logging.getLogger(__name__)

ResultT = TypeVar("ResultT")
P = ParamSpec("P")

# (session, video id, stage, reason): set the video FAILED (with its `video.failed` event) in
# the caller's transaction; raises VideoNotFoundError (deleted) or VideoStateError (ended).
FailureRecorder = Callable[[Session, str, str, str], None]


class Step(Protocol[ResultT]):
    """The domain part of a stage: what the worker of that stage does with one message."""

    stage: Stage  # its name, the event it consumes, its consumer name
    # True for steps whose work is expensive (minutes of ASR): a duplicate is detected, and
    # `begin` runs, in a first short transaction before the work. A cheap step skips that
    # transaction; the unique processed mark at commit alone keeps its effects exactly-once.
    checks_before_work: bool

    def video_id(self, event: Event) -> str:
        """Validate the payload; raise MalformedMessageError if it is not usable."""

    def begin(self, session: Session, event: Event) -> None:
        """Short transaction before the work (e.g. status TRANSCRIBING); only when
        `checks_before_work`."""

    def run(self, event: Event) -> ResultT:
        """The long work; holds no transaction."""

    def complete(self, session: Session, event: Event, result: ResultT) -> None:
        """Store results, status, status log and outbox events in the caller's transaction."""


class _AlreadyProcessed(Exception):
    """Another delivery of the same message won the race to the processed mark."""


class _Stale(Exception):
    """The video is not in a status this step may begin or complete from (a redelivered or
    old message for a video already past the stage, failed, or moved by another delivery):
    the message is done with, nothing is changed."""


# Failures that come out the same on every attempt: a row the schema refuses, a value of the
# wrong kind. Retrying them only repeats the work (minutes of ASR) before the same end.
PERMANENT_ERRORS: tuple[type[BaseException], ...] = (
    IntegrityError,
    DataError,
    ValueError,
)


def is_permanent(exc: BaseException) -> bool:
    if isinstance(exc, VidigestError):
        return exc.permanent
    return isinstance(exc, PERMANENT_ERRORS)


class MessageHandler(Generic[ResultT]):
    def __init__(
        self,
        step: Step[ResultT],
        session_factory: SessionFactory,
        record_failure: FailureRecorder,
        policy: DeliveryPolicy,
    ) -> None:
        self.step = step
        self.session_factory = session_factory
        self.record_failure = record_failure
        self.policy = policy

    @property
    def max_attempts(self) -> int:
        """The delivery policy's: the handler gives up at the attempt the transport would."""
        return self.policy.max_attempts

    @property
    def consumer(self) -> str:
        return self.step.stage.consumer

    def __call__(self, message: Message, attempt: int = 1) -> HandleResult:
        try:
            event = decode_event(message)
            if event.event_type is not self.step.stage.consumes:
                raise MalformedMessageError(
                    f"{self.consumer} does not handle {event.event_type.value} events"
                )
            video_id = self.step.video_id(event)
        except MalformedMessageError as exc:
            return self._dead_letter(message, None, None, str(exc), attempt)

        message_id = str(event.event_id)
        try:
            if self.step.checks_before_work:
                with db_session_context(self.session_factory) as session:
                    if ProcessedMessageService(session).is_processed(self.consumer, message_id):
                        return HandleResult(Outcome.DUPLICATE)
                    _refused_as_stale(self.step.begin, session, event)
            result = self.step.run(event)
            with db_session_context(self.session_factory) as session:
                marked = ProcessedMessageService(session).mark_as_processed(
                    self.consumer, message_id, skip_check=True
                )
                if not marked.created:
                    raise _AlreadyProcessed
                _refused_as_stale(self.step.complete, session, event, result)
            return HandleResult(Outcome.PROCESSED)
        except _AlreadyProcessed:
            return HandleResult(Outcome.DUPLICATE)
        except _Stale as stale:
            return self._skip(message_id, str(stale))
        except Exception as exc:
            if self._database_unavailable(exc):
                log.warning(
                    "%s: database unavailable on %s, will retry (not counted as an attempt): %r",
                    self.consumer,
                    message_id,
                    exc,
                )
                return HandleResult(Outcome.RETRY, error=describe(exc), transient=True)
            permanent = is_permanent(exc)
            if not permanent and attempt < self.max_attempts:
                log.warning(
                    "%s: attempt %d/%d on %s failed, will retry: %r",
                    self.consumer,
                    attempt,
                    self.max_attempts,
                    message_id,
                    exc,
                )
                return HandleResult(Outcome.RETRY, error=describe(exc))
            if isinstance(exc, VidigestError) and permanent:
                reason = f"{self.step.stage.name} failed: {exc}"
            elif permanent:
                log.error("%s: permanent failure on %s: %r", self.consumer, message_id, exc)
                reason = f"{self.step.stage.name} failed: {describe(exc)}"
            else:
                log.exception("%s: giving up on %s", self.consumer, message_id)
                reason = (
                    f"{self.step.stage.name} failed after {attempt} attempt(s): {describe(exc)}"
                )
            return self._dead_letter(message, message_id, video_id, reason, attempt)

    def _dead_letter(
        self,
        message: Message,
        message_id: str | None,
        video_id: str | None,
        reason: str,
        attempt: int,
    ) -> HandleResult:
        """Record the failure once: processed mark, FAILED status + event, dead-letter row."""
        reason = user_reason(reason)  # exception text can carry input, SQL, server paths
        try:
            with db_session_context(self.session_factory) as session:
                if message_id is not None:
                    marked = ProcessedMessageService(session).mark_as_processed(
                        self.consumer, message_id, skip_check=True, outcome="failed"
                    )
                    if not marked.created:
                        raise _AlreadyProcessed
                if video_id is not None:
                    self._fail_video(session, video_id, reason)
                DeadLetterService(session).record(self.consumer, message, reason, attempt)
        except _AlreadyProcessed:
            return HandleResult(Outcome.DUPLICATE)
        except Exception as exc:  # e.g. the database is down: nothing recorded, try again
            log.warning("%s: could not record failure, will retry: %r", self.consumer, exc)
            transient = self._database_unavailable(exc)
            return HandleResult(Outcome.RETRY, error=describe(exc), transient=transient)
        log.warning("%s: dead-lettered %s: %s", self.consumer, message.origin or "", reason)
        return HandleResult(Outcome.DEAD_LETTERED, error=reason)

    def gave_up(self, message: Message, error: str, attempts: int) -> None:
        """The delivery loop gave up on `message` without the handler recording it (the handler
        kept raising, or could not record the failure): set its video FAILED, as `_dead_letter`
        does, so that the video does not stay TRANSCRIBING/SUMMARIZING for ever. The transport
        keeps the message itself (dead-letter table or topic). Raises when the database cannot
        be written; the policy logs that and goes on."""
        try:
            video_id = self.step.video_id(decode_event(message))
        except Exception:  # not a message of this stage: no video to fail
            return
        reason = user_reason(f"{self.step.stage.name} failed after {attempts} attempt(s): {error}")
        with db_session_context(self.session_factory) as session:
            self._fail_video(session, video_id, reason)
        log.warning("%s: video %s failed: %s", self.consumer, video_id, reason)

    def _fail_video(self, session: Session, video_id: str, reason: str) -> None:
        """The injected recorder, in a savepoint: a video deleted or ended meanwhile keeps
        its state, and the caller's transaction goes on."""
        try:
            with session.begin_nested():
                self.record_failure(session, video_id, self.step.stage.name, reason)
        except VideoNotFoundError:
            pass  # the video is gone (deleted): the dead letter keeps the message
        except VideoStateError:
            pass  # it ended already (COMPLETED or FAILED): its status stays

    def _skip(self, message_id: str, why: str) -> HandleResult:
        """A stale message: mark it processed ("skipped") so no redelivery or restart brings it
        back, change nothing else."""
        log.info("%s: skipping %s: %s", self.consumer, message_id, why)
        with db_session_context(self.session_factory) as session:
            ProcessedMessageService(session).mark_as_processed(
                self.consumer, message_id, skip_check=True, outcome="skipped"
            )
        return HandleResult(Outcome.DUPLICATE)

    def _database_unavailable(self, exc: Exception) -> bool:
        """True when `exc` is the database being out of reach (down, restarting, connection
        cut), which says nothing about the message: it is retried without counting."""
        if not isinstance(exc, DBAPIError):
            return False
        if exc.connection_invalidated:
            return True
        try:
            with db_session_context(self.session_factory) as session:
                session.execute(sql_text("SELECT 1"))
        except DBAPIError:
            return True
        return False


def _refused_as_stale(call: Callable[P, None], *args: P.args, **kwargs: P.kwargs) -> None:
    """Run a step's `begin` or `complete`; a refused status change means the message is stale."""
    try:
        call(*args, **kwargs)
    except VideoStateError as exc:
        raise _Stale(str(exc)) from exc
