"""The stages of the pipeline, named once: every part that needs a stage's name, the event it
consumes, its topic or its consumer name reads it from here (the CLI's `worker <stage>`, the
message handler's idempotency key and failure reason, the embedded broker's subscriptions,
the Kafka worker's topic and group). How each stage's step is built is wired in `app.py`
(`STEP_FACTORIES`), the one level that may know every feature.

Words, one meaning each: a *stage* is transcription, summary or indexing; a *step* is the code
that does a stage's work for one message (`modules/<stage>/step.py`); a *worker* is the loop
(and, in distributed mode, the process) consuming a stage's topic.
"""

from __future__ import annotations

from dataclasses import dataclass

from vidigest.common.constants import EventType


@dataclass(frozen=True)
class Stage:
    # the stage key and the word users read ("transcription failed: ...", `worker summary`)
    name: str
    consumes: EventType  # the event that starts it (on the topic of the same name)
    # further events it handles, each on its own topic (the summary: a transcript edited)
    also: tuple[EventType, ...] = ()

    @property
    def topic(self) -> str:
        """The logical topic of its main event (a deployment may prefix it: `settings.topic`)."""
        return self.consumes.topic

    @property
    def events(self) -> tuple[EventType, ...]:
        """Every event it handles: the main one first."""
        return (self.consumes, *self.also)

    @property
    def topics(self) -> tuple[str, ...]:
        """The logical topics it consumes: one per event it handles."""
        return tuple(event.topic for event in self.events)

    @property
    def consumer(self) -> str:
        """The consumer name: the idempotency key is (consumer, event id), stored in
        `processed_messages`; also the Kafka consumer group's suffix."""
        return f"{self.name}-worker"


TRANSCRIPTION = Stage("transcription", EventType.VIDEO_REGISTERED)
# the summary is made when the transcript completes, and made again when a user corrects it
SUMMARY = Stage("summary", EventType.TRANSCRIPTION_COMPLETED, also=(EventType.TRANSCRIPT_EDITED,))
# passages of the transcript embedded for search, beside the summary; again after an edit
INDEXING = Stage("indexing", EventType.TRANSCRIPTION_COMPLETED, also=(EventType.TRANSCRIPT_EDITED,))

# Every stage, in pipeline order, by name. Indexing (seconds) comes before the summary, which
# completes the video: the embedded broker delivers a transcript to its subscribers in this
# order, so there a COMPLETED video is already searchable. (Distributed, the two run side by
# side and a video is searchable once its indexing worker is done, usually first.)
STAGES: dict[str, Stage] = {stage.name: stage for stage in (TRANSCRIPTION, INDEXING, SUMMARY)}


def stage_named(name: str) -> Stage:
    """The stage `name`; ValueError naming the stages there are."""
    try:
        return STAGES[name]
    except KeyError:
        raise ValueError(f"unknown stage {name!r}; expected one of {', '.join(STAGES)}") from None
