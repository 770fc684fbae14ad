"""Request and response bodies of the webhook routes (Pydantic)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from vidigest.common.constants import WebhookEventType
from vidigest.modules.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from vidigest.modules.webhooks.service import DEFAULT_EVENTS, DeliveryLog

# no control characters (PostgreSQL text cannot even hold NUL)
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"


class EndpointRequest(BaseModel):
    url: str = Field(max_length=2048, pattern=PRINTABLE, description="http(s) URL of the receiver")
    events: list[WebhookEventType] = Field(
        default_factory=lambda: list(DEFAULT_EVENTS),
        min_length=1,
        description="What to send: video.completed, video.failed, video.progress",
    )
    description: str | None = Field(default=None, max_length=255, pattern=PRINTABLE)


class EndpointOut(BaseModel):
    id: str
    url: str
    events: list[str]
    description: str | None
    enabled: bool
    created_at: datetime

    @classmethod
    def of(cls, endpoint: WebhookEndpoint) -> EndpointOut:
        return cls(
            id=endpoint.id,
            url=endpoint.url,
            events=list(endpoint.events),
            description=endpoint.description,
            enabled=endpoint.enabled,
            created_at=endpoint.created_at,
        )


class EndpointWithSecret(EndpointOut):
    secret: str = Field(description="whsec_...: verify `webhook-signature` with it")

    @classmethod
    def of(cls, endpoint: WebhookEndpoint) -> EndpointWithSecret:
        return cls(**EndpointOut.of(endpoint).model_dump(), secret=endpoint.secret)


class EndpointList(BaseModel):
    endpoints: list[EndpointOut]


class DeliveryOut(BaseModel):
    id: str = Field(description="The webhook-id header: the same on every attempt")
    endpoint_id: str
    event_type: str
    video_id: str | None
    status: str = Field(description="pending, delivered or dead (given up)")
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None = Field(description="pending only")
    delivered_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, delivery: WebhookDelivery) -> DeliveryOut:
        return cls(
            id=delivery.id,
            endpoint_id=delivery.endpoint_id,
            event_type=delivery.event_type,
            video_id=delivery.video_id,
            status=delivery.status,
            attempts=delivery.attempts,
            last_status_code=delivery.last_status_code,
            last_error=delivery.last_error,
            next_attempt_at=delivery.next_attempt_at if delivery.status == "pending" else None,
            delivered_at=delivery.delivered_at,
            created_at=delivery.created_at,
        )


class DeliveryList(BaseModel):
    deliveries: list[DeliveryOut]


class AttemptOut(BaseModel):
    attempt: int
    status_code: int | None
    latency_ms: float
    error: str | None
    at: datetime

    @classmethod
    def of(cls, attempt: WebhookAttempt) -> AttemptOut:
        return cls(
            attempt=attempt.attempt,
            status_code=attempt.status_code,
            latency_ms=attempt.latency_ms,
            error=attempt.error,
            at=attempt.created_at,
        )


class DeliveryDetail(DeliveryOut):
    payload: str = Field(description="The JSON body sent (and signed)")
    log: list[AttemptOut]

    @classmethod
    def of_log(cls, log: DeliveryLog) -> DeliveryDetail:
        return cls(
            **DeliveryOut.of(log.delivery).model_dump(),
            payload=log.delivery.body,
            log=[AttemptOut.of(a) for a in log.attempts],
        )
