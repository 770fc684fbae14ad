"""The published contracts of vidigest's events: a JSON Schema per event type (the envelope
with its payload) and per webhook payload, generated from the pydantic types in `types.py`
(`vidigest schemas write` puts them in docs/events/, a test keeps those files current).

Versions: each schema is `<name>.v<N>.json`. Adding an optional field keeps N (the schemas
allow properties they do not name, so a consumer validating with them keeps working); removing
or renaming a field, changing its type or making it required is a new version, N + 1, under a
new file, while the old one stays published.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, create_model

from vidigest.common.constants import EventType, WebhookEventType
from vidigest.common.types import EVENT_PAYLOADS, WEBHOOK_PAYLOADS, Event, WebhookMessage

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

# The current version of each contract (bump on an incompatible change: see the docstring).
EVENT_VERSIONS: dict[EventType, int] = {event_type: 1 for event_type in EventType}
WEBHOOK_VERSIONS: dict[WebhookEventType, int] = {event_type: 1 for event_type in WebhookEventType}


def event_schema_name(event_type: EventType) -> str:
    return f"{event_type.value}.v{EVENT_VERSIONS[event_type]}"


def webhook_schema_name(event_type: WebhookEventType) -> str:
    return f"webhook.{event_type.value}.v{WEBHOOK_VERSIONS[event_type]}"


def _open(schema: Any) -> Any:
    """The schema without `additionalProperties: false`: a field added later stays valid."""
    if isinstance(schema, dict):
        return {
            k: _open(v)
            for k, v in schema.items()
            if not (k == "additionalProperties" and v is False)
        }
    if isinstance(schema, list):
        return [_open(v) for v in schema]
    return schema


def _document(name: str, model: type[BaseModel], description: str) -> dict[str, Any]:
    schema = _open(model.model_json_schema(mode="serialization"))
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": f"urn:vidigest:schema:{name}",
        **schema,
        "description": description,
    }


def event_schema(event_type: EventType) -> dict[str, Any]:
    """The message value on the topic `event_type.topic`: the envelope, its payload typed."""
    payload = EVENT_PAYLOADS[event_type]
    model = create_model(
        f"{payload.__name__}Event",
        __base__=Event,
        event_type=(Literal[event_type.value], ...),  # type: ignore[arg-type]
        payload=(payload, ...),
    )
    document = _document(
        event_schema_name(event_type),
        model,
        f"The value of a message on the topic {event_type.topic!r} (key: the video id; headers "
        f"event_id, event_type).",
    )
    document["required"] = list(Event.model_fields)  # every message carries the whole envelope
    return document


def webhook_schema(event_type: WebhookEventType) -> dict[str, Any]:
    """The body a webhook receiver gets for `event_type`."""
    data = WEBHOOK_PAYLOADS[event_type]
    model = create_model(
        f"{data.__name__}Webhook",
        __base__=WebhookMessage,
        type=(Literal[event_type.value], ...),  # type: ignore[arg-type]
        data=(data, ...),
    )
    return _document(
        webhook_schema_name(event_type),
        model,
        f"The JSON body of a {event_type.value!r} webhook (signed per Standard Webhooks).",
    )


def all_schemas() -> dict[str, str]:
    """File name -> its text, for every published contract."""
    documents = {f"{event_schema_name(e)}.json": event_schema(e) for e in EventType}
    documents |= {f"{webhook_schema_name(w)}.json": webhook_schema(w) for w in WebhookEventType}
    return {
        name: json.dumps(document, indent=2, sort_keys=True) + "\n"
        for name, document in sorted(documents.items())
    }
