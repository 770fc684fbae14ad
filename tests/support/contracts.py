"""Validation against the published contracts: the JSON Schemas committed in docs/events/
(what other services rely on), not the ones the code would generate now."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from tests.support.paths import REPO
from vidigest.common.constants import EventType, WebhookEventType
from vidigest.common.contracts import event_schema_name, webhook_schema_name

EVENTS_DIR = REPO / "docs" / "events"


@cache
def validator(name: str) -> Draft202012Validator:
    schema = json.loads((EVENTS_DIR / f"{name}.json").read_text(encoding="utf-8"))
    return Draft202012Validator(schema, format_checker=FormatChecker())


def check_event(envelope: dict[str, Any]) -> None:
    """The message value of an event, against its type's schema (raises ValidationError)."""
    validator(event_schema_name(EventType(envelope["event_type"]))).validate(envelope)


def check_webhook(body: dict[str, Any]) -> None:
    """A webhook body, against its type's schema (raises ValidationError)."""
    validator(webhook_schema_name(WebhookEventType(body["type"]))).validate(body)
