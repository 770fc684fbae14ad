"""Webhook endpoints (register, list, disable, rotate the secret), the fan-out of an event into
the deliveries it owes, and the delivery log. Every function works in the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from vidigest.common.constants import EventType, VideoStatus, WebhookEventType
from vidigest.common.types import (
    Event,
    SummaryCompleted,
    VideoFailed,
    VideoProgress,
    WebhookMessage,
    WebhookVideoCompleted,
    WebhookVideoFailed,
)
from vidigest.database.base import utcnow
from vidigest.http.errors import ApiError, ErrorCode
from vidigest.messaging.codec import parse_payload
from vidigest.modules.transcription.models import TranscriptRecord
from vidigest.modules.videos.models import Video
from vidigest.modules.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from vidigest.modules.webhooks.signing import new_secret

# The events a webhook endpoint hears of, by the pipeline event that announces them.
WEBHOOK_EVENT_FOR: dict[EventType, WebhookEventType] = {
    EventType.SUMMARY_COMPLETED: WebhookEventType.VIDEO_COMPLETED,
    EventType.VIDEO_FAILED: WebhookEventType.VIDEO_FAILED,
    EventType.VIDEO_PROGRESS: WebhookEventType.VIDEO_PROGRESS,
}
# What an endpoint gets when it names no event types (progress is asked for).
DEFAULT_EVENTS = (WebhookEventType.VIDEO_COMPLETED, WebhookEventType.VIDEO_FAILED)
# webhook-id of one event's delivery to one endpoint: the same whoever computes it, so a fan-out
# run twice (a crash before its commit) can never owe two deliveries
_DELIVERY_NAMESPACE = uuid.UUID("6f1c1d3e-4b8a-5d2e-9a57-1c0de5e1b001")

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
DeliveryStatus = Literal["pending", "delivered", "dead"]


def delivery_id(event_id: str, endpoint_id: str) -> str:
    return "msg_" + uuid.uuid5(_DELIVERY_NAMESPACE, f"{event_id}:{endpoint_id}").hex


class WebhookService:
    def __init__(self, session: Session) -> None:
        self.session = session

    # --- endpoints ---------------------------------------------------------------------------

    def create_endpoint(
        self,
        url: str,
        events: Sequence[WebhookEventType] = DEFAULT_EVENTS,
        *,
        description: str | None = None,
        video_id: str | None = None,
    ) -> WebhookEndpoint:
        """A new endpoint with a new secret. `url` must have passed `egress.check_receiver`."""
        endpoint = WebhookEndpoint(
            id="ep_" + uuid.uuid4().hex,
            url=url,
            events=sorted({WebhookEventType(e).value for e in events}),
            secret=new_secret(),
            description=description,
            enabled=True,
            video_id=video_id,
        )
        self.session.add(endpoint)
        self.session.flush()
        return endpoint

    def endpoints(self) -> list[WebhookEndpoint]:
        """The registered endpoints (a video's callback_url is listed with that video)."""
        query = select(WebhookEndpoint).where(WebhookEndpoint.video_id.is_(None))
        return list(self.session.scalars(query.order_by(WebhookEndpoint.created_at)))

    def endpoint(self, endpoint_id: str) -> WebhookEndpoint:
        endpoint = self.session.get(WebhookEndpoint, endpoint_id)
        if endpoint is None:
            raise ApiError(ErrorCode.NOT_FOUND, f"no webhook endpoint {endpoint_id!r}")
        return endpoint

    def set_enabled(self, endpoint_id: str, enabled: bool) -> WebhookEndpoint:
        """A disabled endpoint is sent nothing; its deliveries wait until it is enabled again."""
        endpoint = self.endpoint(endpoint_id)
        endpoint.enabled = enabled
        self.session.flush()
        return endpoint

    def rotate_secret(self, endpoint_id: str, keep_previous_hours: float = 24.0) -> WebhookEndpoint:
        """A new secret, used from the next attempt on (pending deliveries included). For
        `keep_previous_hours` every delivery is signed with the old secret too (Standard
        Webhooks lists several signatures), so a receiver can switch over without a gap."""
        endpoint = self.endpoint(endpoint_id)
        if keep_previous_hours > 0:
            endpoint.previous_secret = endpoint.secret
            endpoint.previous_secret_until = utcnow() + timedelta(hours=keep_previous_hours)
        else:
            endpoint.previous_secret = endpoint.previous_secret_until = None
        endpoint.secret = new_secret()
        self.session.flush()
        return endpoint

    def delete_endpoint(self, endpoint_id: str) -> None:
        """The endpoint, its deliveries and their log."""
        self.session.delete(self.endpoint(endpoint_id))
        self.session.flush()

    def subscribed(self, kind: WebhookEventType, video_id: str) -> bool:
        """Whether an enabled endpoint wants `kind` for this video (progress events are only
        emitted then)."""
        return any(kind.value in e.events for e in self._endpoints_for(video_id))

    def _endpoints_for(self, video_id: str) -> list[WebhookEndpoint]:
        """The enabled endpoints that hear of this video: the global ones and its own."""
        query = select(WebhookEndpoint).where(
            WebhookEndpoint.enabled.is_(True),
            (WebhookEndpoint.video_id.is_(None)) | (WebhookEndpoint.video_id == video_id),
        )
        return list(self.session.scalars(query))

    # --- fan-out -----------------------------------------------------------------------------

    def fan_out(self, event: Event) -> list[WebhookDelivery]:
        """The deliveries `event` owes: one per enabled endpoint subscribed to its webhook
        event (the global ones and the video's own callback_url)."""
        kind = WEBHOOK_EVENT_FOR.get(event.event_type)
        if kind is None:
            return []
        video_id = str(event.payload.get("video_id", event.aggregate_id))
        endpoints = [e for e in self._endpoints_for(video_id) if kind.value in e.events]
        if not endpoints:
            return []
        message = WebhookMessage(
            type=kind, timestamp=event.occurred_at, data=self._data(event, video_id)
        )
        body = message.model_dump_json()
        deliveries = []
        now = utcnow()
        for endpoint in endpoints:
            delivery = WebhookDelivery(
                id=delivery_id(str(event.event_id), endpoint.id),
                endpoint_id=endpoint.id,
                event_id=str(event.event_id),
                event_type=kind.value,
                video_id=video_id,
                body=body,
                status=PENDING,
                attempts=0,
                next_attempt_at=now,
            )
            if self.session.get(WebhookDelivery, delivery.id) is None:
                self.session.add(delivery)
                deliveries.append(delivery)
        self.session.flush()
        return deliveries

    def _data(
        self, event: Event, video_id: str
    ) -> WebhookVideoCompleted | WebhookVideoFailed | VideoProgress:
        if event.event_type is EventType.VIDEO_PROGRESS:
            return parse_payload(VideoProgress, event)
        video = self.session.get(Video, video_id)
        if event.event_type is EventType.VIDEO_FAILED:
            failed = parse_payload(VideoFailed, event)
            return WebhookVideoFailed(
                video_id=failed.video_id,
                status=VideoStatus.FAILED.value,
                filename=video.filename if video else None,
                stage=failed.stage,
                reason=failed.reason,
            )
        transcript = self.session.scalars(
            select(TranscriptRecord).where(TranscriptRecord.video_id == event.aggregate_id)
        ).first()
        return WebhookVideoCompleted(
            video_id=event.aggregate_id,
            status=VideoStatus.COMPLETED.value,
            filename=video.filename if video else "",
            duration=video.duration if video else None,
            language=transcript.language if transcript else None,
            transcript_id=transcript.id if transcript else None,
            summary_id=parse_payload(SummaryCompleted, event).summary_id,
        )

    # --- the delivery log --------------------------------------------------------------------

    def deliveries(
        self,
        endpoint_id: str | None = None,
        *,
        video_id: str | None = None,
        status: DeliveryStatus | None = None,
        limit: int = 50,
    ) -> list[WebhookDelivery]:
        """Newest first: an endpoint's, or a video's (its callback_url's included)."""
        query = select(WebhookDelivery)
        if endpoint_id is not None:
            self.endpoint(endpoint_id)
            query = query.where(WebhookDelivery.endpoint_id == endpoint_id)
        if video_id is not None:
            query = query.where(WebhookDelivery.video_id == video_id)
        if status is not None:
            query = query.where(WebhookDelivery.status == status)
        query = query.order_by(WebhookDelivery.created_at.desc()).limit(limit)
        return list(self.session.scalars(query))

    def _delivery(self, delivery_id: str) -> WebhookDelivery:
        delivery = self.session.get(WebhookDelivery, delivery_id)
        if delivery is None:
            raise ApiError(ErrorCode.NOT_FOUND, f"no webhook delivery {delivery_id!r}")
        return delivery

    def delivery(self, delivery_id: str) -> DeliveryLog:
        delivery = self._delivery(delivery_id)
        attempts = self.session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id == delivery_id)
            .order_by(WebhookAttempt.attempt, WebhookAttempt.id)
        )
        return DeliveryLog(delivery, list(attempts))

    def redeliver(self, delivery_id: str) -> WebhookDelivery:
        """Send a delivery again (a dead one, or a delivered one the receiver lost): same
        webhook-id, attempts counted on from where they were."""
        delivery = self._delivery(delivery_id)
        delivery.status = PENDING
        delivery.next_attempt_at = utcnow()
        self.session.flush()
        return delivery


@dataclass(frozen=True)
class DeliveryLog:
    delivery: WebhookDelivery
    attempts: list[WebhookAttempt]
