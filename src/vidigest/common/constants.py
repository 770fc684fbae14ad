"""Names shared by every part of the system: statuses, event types, topics, consumers."""

from enum import StrEnum


class VideoStatus(StrEnum):
    REGISTERED = "REGISTERED"
    TRANSCRIBING = "TRANSCRIBING"
    TRANSCRIBED = "TRANSCRIBED"
    SUMMARIZING = "SUMMARIZING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


TERMINAL_STATUSES = frozenset({VideoStatus.COMPLETED, VideoStatus.FAILED})


class EventType(StrEnum):
    VIDEO_REGISTERED = "video.registered"
    TRANSCRIPTION_COMPLETED = "transcription.completed"
    SUMMARY_COMPLETED = "summary.completed"
    VIDEO_FAILED = "video.failed"


class Topic(StrEnum):
    """Logical topic names; a deployment may prefix them (settings.topic_prefix)."""

    VIDEO_REGISTERED = "video.registered"
    TRANSCRIPTION_COMPLETED = "transcription.completed"
    SUMMARY_COMPLETED = "summary.completed"
    VIDEO_FAILED = "video.failed"
    DEAD_LETTER = "vidigest.dead-letter"


# Each event type travels on the topic of the same name.
TOPIC_FOR_EVENT: dict[EventType, Topic] = {
    EventType.VIDEO_REGISTERED: Topic.VIDEO_REGISTERED,
    EventType.TRANSCRIPTION_COMPLETED: Topic.TRANSCRIPTION_COMPLETED,
    EventType.SUMMARY_COMPLETED: Topic.SUMMARY_COMPLETED,
    EventType.VIDEO_FAILED: Topic.VIDEO_FAILED,
}


class Consumer(StrEnum):
    """Consumer names: the idempotency key is (consumer, event id)."""

    TRANSCRIPTION = "transcription-worker"
    SUMMARY = "summary-worker"


AGGREGATE_VIDEO = "video"

# Message headers every event carries (the event id is the deduplication key).
HEADER_EVENT_ID = "event_id"
HEADER_EVENT_TYPE = "event_type"
HEADER_ERROR = "error"
HEADER_SOURCE_TOPIC = "source_topic"
