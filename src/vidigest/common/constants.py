"""Names shared by every part of the system: statuses, event types, topics (the stages and
their consumer names: `stages.py`)."""

from enum import StrEnum


class VideoStatus(StrEnum):
    DOWNLOADING = "DOWNLOADING"  # a URL registration whose download is running or queued
    REGISTERED = "REGISTERED"
    TRANSCRIBING = "TRANSCRIBING"
    TRANSCRIBED = "TRANSCRIBED"
    SUMMARIZING = "SUMMARIZING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


TERMINAL_STATUSES = frozenset({VideoStatus.COMPLETED, VideoStatus.FAILED})

# The status machine: every status change anywhere is checked against this one table (by a
# conditional UPDATE ... WHERE status IN (allowed_from(to))), so two writers racing on one
# video cannot both win and no impossible move is ever stored. A status that may follow itself
# (TRANSCRIBING, SUMMARIZING) is a worker resuming after a redelivery or a restart.
INITIAL_STATUSES = frozenset({VideoStatus.DOWNLOADING, VideoStatus.REGISTERED})
ALLOWED_TRANSITIONS: dict[VideoStatus, frozenset[VideoStatus]] = {
    VideoStatus.DOWNLOADING: frozenset({VideoStatus.REGISTERED, VideoStatus.FAILED}),
    VideoStatus.REGISTERED: frozenset({VideoStatus.TRANSCRIBING, VideoStatus.FAILED}),
    VideoStatus.TRANSCRIBING: frozenset(
        {VideoStatus.TRANSCRIBING, VideoStatus.TRANSCRIBED, VideoStatus.FAILED}
    ),
    VideoStatus.TRANSCRIBED: frozenset({VideoStatus.SUMMARIZING, VideoStatus.FAILED}),
    VideoStatus.SUMMARIZING: frozenset(
        {VideoStatus.SUMMARIZING, VideoStatus.COMPLETED, VideoStatus.FAILED}
    ),
    VideoStatus.COMPLETED: frozenset(),
    # retry: queue it again, or download it again (a URL video whose download failed)
    VideoStatus.FAILED: frozenset({VideoStatus.REGISTERED, VideoStatus.DOWNLOADING}),
}


def allowed_from(to: VideoStatus) -> frozenset[VideoStatus]:
    """The statuses a video may move to `to` from."""
    return frozenset(s for s, targets in ALLOWED_TRANSITIONS.items() if to in targets)


class EventType(StrEnum):
    VIDEO_REGISTERED = "video.registered"
    TRANSCRIPTION_COMPLETED = "transcription.completed"
    SUMMARY_COMPLETED = "summary.completed"
    # a user corrected a completed transcript (segment text or speaker, find and replace): the
    # summary stage summarises it again; any other consumer (an index of the text) may follow
    TRANSCRIPT_EDITED = "transcript.edited"
    VIDEO_FAILED = "video.failed"
    # how far a video's current stage is (at most every VIDIGEST_PROGRESS_EVENT_SECONDS per
    # video); only the webhook fan-out consumes it
    VIDEO_PROGRESS = "video.progress"

    @property
    def topic(self) -> str:
        """Each event type travels on the logical topic of its own name (a deployment may
        prefix it: `settings.topic`)."""
        return self.value


# Where the Kafka worker copies a message it gave up on (the embedded broker's counterpart is
# the `dead_letters` table).
DEAD_LETTER_TOPIC = "vidigest.dead-letter"

AGGREGATE_VIDEO = "video"

# Message headers every event carries (the event id is the deduplication key).
HEADER_EVENT_ID = "event_id"
HEADER_EVENT_TYPE = "event_type"
HEADER_ERROR = "error"
HEADER_SOURCE_TOPIC = "source_topic"


class WebhookEventType(StrEnum):
    """What a webhook endpoint may subscribe to (the `type` of the payload it receives)."""

    VIDEO_COMPLETED = "video.completed"
    VIDEO_FAILED = "video.failed"
    VIDEO_PROGRESS = "video.progress"
