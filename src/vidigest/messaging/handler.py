"""The one message handler every worker uses.

    decode -> idempotency check -> begin (status) -> run (long work, no transaction held)
    -> one transaction: processed mark + results + status log + outbox -> commit
    -> the transport commits the offset when the result says `done`.

A step supplies only the domain parts (`begin`, `run`, `complete`); retries, failure
recording and dead-lettering are decided here, once, for every stage.

A cheap step (no `checks_before_work`) may also declare `batch_size > 1`: the transport then
hands it several messages of one partition at once (`handle_batch`), and they share one
transaction, one SAVEPOINT each, so the commit (milliseconds on a real disk) is paid once per
batch instead of once per message. Exactly-once holds as for one message: each message's
processed mark is in the transaction of its effects, and the transport commits the offsets
only after that transaction. How often a message is
tried comes from the one `DeliveryPolicy` (`delivery.py`) the transports follow too.

Where a status changes to FAILED: the handler does not know the videos feature; `app.py`
injects the failure recorder (`VideoService.fail`), called here for a failure the handler
records itself (`_dead_letter`) and for a message the delivery loop gave up on (`gave_up`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Generic, ParamSpec, Protocol, TypeVar

from sqlalchemy import text as sql_text
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from vidigest.common.exceptions import (
    MalformedMessageError,
    StorageUnavailableError,
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
    # Optional, not part of the protocol: `batch_size: int`, how many messages a cheap step
    # (no `checks_before_work`) may share one transaction with (`handle_batch`); absent: 1.

    def video_id(self, event: Event) -> str:
        """Validate the payload; raise MalformedMessageError if it is not usable."""

    def begin(self, session: Session, event: Event) -> None:
        """Short transaction before the work (e.g. status TRANSCRIBING); only when
        `checks_before_work`."""

    def run(self, event: Event) -> ResultT:
        """The long work; holds no transaction."""

    def complete(self, session: Session, event: Event, result: ResultT) -> None:
        """Store results, status, status log and outbox events in the caller's transaction."""


# How many messages a step may share one transaction with, when it does not say (the attribute
# `batch_size` is optional): one, the safe choice for a step whose work is long.
DEFAULT_BATCH_SIZE = 1


def batch_size_of(step: object) -> int:
    """A step's `batch_size`, 1 for a step that checks before its work (its work holds no
    transaction and may take minutes: batching would hold the first message's mark and locks
    for the whole batch) or that does not declare one."""
    if getattr(step, "checks_before_work", True):
        return 1
    size = getattr(step, "batch_size", DEFAULT_BATCH_SIZE)
    return size if isinstance(size, int) and size > 1 else 1


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

    @property
    def batch_size(self) -> int:
        """How many messages the transport may hand `handle_batch` at once (1: never)."""
        return batch_size_of(self.step)

    def _decode(self, message: Message) -> tuple[Event, str]:
        """The event and its video id; MalformedMessageError if either is not usable."""
        event = decode_event(message)
        if event.event_type not in self.step.stage.events:
            raise MalformedMessageError(
                f"{self.consumer} does not handle {event.event_type.value} events"
            )
        return event, self.step.video_id(event)

    def __call__(self, message: Message, attempt: int = 1) -> HandleResult:
        try:
            event, video_id = self._decode(message)
        except MalformedMessageError as exc:
            return self._dead_letter(message, None, None, str(exc), attempt)

        message_id = str(event.event_id)
        try:
            if self.step.checks_before_work:
                with db_session_context(self.session_factory) as session:
                    if ProcessedMessageService(session).is_processed(self.consumer, message_id):
                        return HandleResult(Outcome.DUPLICATE)
                    _refused_as_stale(self.step.begin, session, event)
            result = self._run(event)
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
                    "%s: database or media store unavailable on %s, will retry (not counted): %r",
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

    def _run(self, event: Event) -> ResultT:
        """The step's long work; a video that left the stage meanwhile (cancelled by the user:
        the step stops at its next check with VideoStateError) makes the message stale."""
        try:
            return self.step.run(event)
        except VideoStateError as exc:
            raise _Stale(str(exc)) from exc

    def handle_batch(self, messages: Sequence[Message]) -> list[HandleResult]:
        """Handle `messages` (first deliveries, in order) in one transaction; returns the
        results of the longest prefix that is done once the transaction has committed: each
        PROCESSED, DUPLICATE or DEAD_LETTERED (recorded, as `__call__` records it).

        First all at once: one statement marks every message processed (those already marked
        are duplicates), then the step's work for each, one commit. If any message fails
        there, that transaction is rolled back and the batch is handled again with a SAVEPOINT
        per message (`_one_savepoint_each`), so that the failure stays with its message.
        A step's `run` may therefore run twice for a message: as for any retried message."""
        if not messages:
            return []
        at_once = self._all_at_once(messages)
        if at_once is not None:
            return at_once
        return self._one_savepoint_each(messages)

    def _all_at_once(self, messages: Sequence[Message]) -> list[HandleResult] | None:
        """The common case, in the fewest statements; None when a message needs care."""
        try:
            events = [self._decode(message)[0] for message in messages]
        except MalformedMessageError:
            return None
        ids = [str(event.event_id) for event in events]
        results: list[HandleResult] = []
        try:
            with db_session_context(self.session_factory) as session:
                marked = ProcessedMessageService(session).mark_all_as_processed(self.consumer, ids)
                for event, message_id in zip(events, ids, strict=True):
                    if message_id not in marked:
                        results.append(HandleResult(Outcome.DUPLICATE))
                        continue
                    marked.discard(message_id)  # a second copy in this batch is a duplicate
                    self.step.complete(session, event, self.step.run(event))
                    results.append(HandleResult(Outcome.PROCESSED))
        except Exception as exc:
            log.info(
                "%s: a batch of %d failed (%r); again with a savepoint per message",
                self.consumer,
                len(messages),
                exc,
            )
            return None
        return results

    def _one_savepoint_each(self, messages: Sequence[Message]) -> list[HandleResult]:
        """One transaction, a SAVEPOINT per message: a message that fails for good is
        dead-lettered in its own savepoint and its neighbours commit with it; a message that
        may succeed on a retry (or the database is away) ends the prefix there: the transport
        delivers it alone through `__call__` (retries, attempts, outages as for any message),
        then the rest, so order within a partition is kept. If the transaction cannot commit,
        nothing is done: the result is empty."""
        results: list[HandleResult] = []
        try:
            with db_session_context(self.session_factory) as session:
                for message in messages:
                    result = self._in_batch(session, message)
                    if result is None:
                        break
                    results.append(result)
        except Exception as exc:
            log.warning(
                "%s: a batch of %d could not be committed; its messages go one by one: %r",
                self.consumer,
                len(messages),
                exc,
            )
            return []
        return results

    def _in_batch(self, session: Session, message: Message) -> HandleResult | None:
        """One message of a batch, in the batch's transaction; None: deliver it alone."""
        try:
            event, video_id = self._decode(message)
        except MalformedMessageError as exc:
            return self._dead_letter_in_batch(session, message, None, None, str(exc))
        message_id = str(event.event_id)
        try:
            with session.begin_nested():
                marked = ProcessedMessageService(session).mark_as_processed(
                    self.consumer, message_id, skip_check=True
                )
                if not marked.created:
                    raise _AlreadyProcessed
                result = self._run(event)
                _refused_as_stale(self.step.complete, session, event, result)
            return HandleResult(Outcome.PROCESSED)
        except _AlreadyProcessed:
            return HandleResult(Outcome.DUPLICATE)
        except Exception as exc:
            return self._failed_in_batch(session, message, message_id, video_id, exc)

    def _failed_in_batch(
        self, session: Session, message: Message, message_id: str, video_id: str, exc: Exception
    ) -> HandleResult | None:
        """The savepoint of the message is rolled back; record what `__call__` would record
        at attempt 1 when that needs no retry (stale: skipped; permanent: dead-lettered),
        else None."""
        try:
            if isinstance(exc, _Stale):
                log.info("%s: skipping %s: %s", self.consumer, message_id, exc)
                with session.begin_nested():
                    ProcessedMessageService(session).mark_as_processed(
                        self.consumer, message_id, skip_check=True, outcome="skipped"
                    )
                return HandleResult(Outcome.DUPLICATE)
        except Exception:
            return None
        if not is_permanent(exc):
            return None  # a retry may succeed: the transport delivers it alone, counted
        if isinstance(exc, VidigestError):
            reason = f"{self.step.stage.name} failed: {exc}"
        else:
            log.error("%s: permanent failure on %s: %r", self.consumer, message_id, exc)
            reason = f"{self.step.stage.name} failed: {describe(exc)}"
        return self._dead_letter_in_batch(session, message, message_id, video_id, reason)

    def _dead_letter_in_batch(
        self,
        session: Session,
        message: Message,
        message_id: str | None,
        video_id: str | None,
        reason: str,
    ) -> HandleResult | None:
        """`_dead_letter` in a savepoint of the batch; None when it cannot be recorded."""
        reason = user_reason(reason)
        try:
            with session.begin_nested():
                self._record_failure(session, message, message_id, video_id, reason, 1)
        except _AlreadyProcessed:
            return HandleResult(Outcome.DUPLICATE)
        except Exception as exc:
            log.warning("%s: could not record failure in a batch: %r", self.consumer, exc)
            return None
        log.warning("%s: dead-lettered %s: %s", self.consumer, message.origin or "", reason)
        return HandleResult(Outcome.DEAD_LETTERED, error=reason)

    def _record_failure(
        self,
        session: Session,
        message: Message,
        message_id: str | None,
        video_id: str | None,
        reason: str,
        attempt: int,
    ) -> None:
        """Processed mark ("failed"), FAILED status + event, dead-letter row, in `session`;
        raises _AlreadyProcessed when another delivery marked the message first."""
        if message_id is not None:
            marked = ProcessedMessageService(session).mark_as_processed(
                self.consumer, message_id, skip_check=True, outcome="failed"
            )
            if not marked.created:
                raise _AlreadyProcessed
        if video_id is not None:
            self._fail_video(session, video_id, reason)
        DeadLetterService(session).record(self.consumer, message, reason, attempt)

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
                self._record_failure(session, message, message_id, video_id, reason, attempt)
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
        cut), or the media store being so (`StorageUnavailableError`: no answer, 5xx), which
        says nothing about the message: it is retried without counting."""
        if isinstance(exc, StorageUnavailableError):
            return True
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
