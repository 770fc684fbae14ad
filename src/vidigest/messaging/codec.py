"""Events on the wire: JSON envelope in the value, event id and type in headers."""

from __future__ import annotations

import json
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from vidigest.common.constants import HEADER_EVENT_ID, HEADER_EVENT_TYPE
from vidigest.common.exceptions import MalformedMessageError
from vidigest.common.types import Event
from vidigest.messaging.transport import Message


def encode_event(
    event_id: str, event_type: str, key: str, envelope: dict[str, object], topic: str
) -> Message:
    return Message(
        topic=topic,
        key=key,
        value=json.dumps(envelope, separators=(",", ":")).encode(),
        headers={HEADER_EVENT_ID: event_id, HEADER_EVENT_TYPE: event_type},
    )


def decode_event(message: Message) -> Event:
    """The Event in `message`, or MalformedMessageError saying precisely what is wrong."""
    try:
        document = json.loads(message.value)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedMessageError(f"message is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise MalformedMessageError(f"message must be a JSON object, got {type(document).__name__}")
    try:
        return Event.model_validate(document)
    except ValidationError as exc:
        raise MalformedMessageError(f"invalid event envelope: {_first_errors(exc)}") from None


def _first_errors(exc: ValidationError, limit: int = 3) -> str:
    parts = []
    for error in exc.errors()[:limit]:
        where = ".".join(str(p) for p in error["loc"]) or "(root)"
        parts.append(f"{where}: {error['msg']}")
    more = len(exc.errors()) - limit
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


PayloadT = TypeVar("PayloadT", bound=BaseModel)


def parse_payload(model: type[PayloadT], event: Event) -> PayloadT:
    """Validate an event's payload against the model the consumer expects."""
    try:
        return model.model_validate(event.payload)
    except ValidationError as exc:
        raise MalformedMessageError(
            f"invalid {event.event_type.value} payload: {_first_errors(exc)}"
        ) from None
