"""Every model, imported in one place so the metadata (and Alembic) sees all tables."""

from vidigest.database.base import Base
from vidigest.messaging.models import DeadLetter, OutboxEvent, ProcessedMessage
from vidigest.modules.search.models import SearchPassage
from vidigest.modules.speakers.models import VoiceProfile
from vidigest.modules.summary.models import VideoSummaryRecord
from vidigest.modules.transcription.models import (
    TranscriptRecord,
    TranscriptSegment,
    TranscriptSegmentVersion,
    TranscriptSpeaker,
    TranscriptTurn,
    TranscriptWord,
)
from vidigest.modules.videos.models import Video, VideoStatusLog
from vidigest.modules.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

__all__ = [
    "Base",
    "DeadLetter",
    "OutboxEvent",
    "ProcessedMessage",
    "SearchPassage",
    "TranscriptRecord",
    "TranscriptSegment",
    "TranscriptSegmentVersion",
    "TranscriptSpeaker",
    "TranscriptTurn",
    "TranscriptWord",
    "Video",
    "VideoStatusLog",
    "VideoSummaryRecord",
    "VoiceProfile",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
]
