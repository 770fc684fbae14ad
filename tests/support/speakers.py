"""A diarized video made through the real services (data, not mocks): for the tests of speaker
routes, exports and commands."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vidigest.common.constants import VideoStatus
from vidigest.common.types import (
    Chapter,
    KeyPoint,
    Segment,
    Speaker,
    SpeakerTurn,
    Summary,
    Transcript,
    Word,
)
from vidigest.database.session import Database, db_session_context
from vidigest.modules.speakers.attribution import attribute_speakers
from vidigest.modules.summary.service import VideoSummaryService
from vidigest.modules.transcription.service import TranscriptService
from vidigest.modules.videos.service import VideoService

TURNS = (
    SpeakerTurn(start=0.0, end=4.0, speaker="SPEAKER_1"),
    SpeakerTurn(start=4.0, end=8.0, speaker="SPEAKER_2"),
)


def segment(index: int, start: float, *texts: str) -> Segment:
    words = tuple(
        Word(start=start + i * 0.5, end=start + i * 0.5 + 0.4, text=f" {t}", probability=0.9)
        for i, t in enumerate(texts)
    )
    return Segment(
        index=index,
        start=start,
        end=words[-1].end,
        text="".join(w.text for w in words),
        words=words,
    )


def _spoken_by(part: Segment, speaker: str | None) -> Segment:
    words = tuple(w.model_copy(update={"speaker": speaker}) for w in part.words)
    return part.model_copy(update={"speaker": speaker, "words": words})


def diarized_video(
    database_url: str, *, centroids: bool = True, unattributed: str | None = None
) -> str:
    """A COMPLETED video whose transcript has two speakers (and a voice for SPEAKER_1 when
    `centroids`) and whose summary names who said what: made through the services.
    `unattributed`: the text of a third segment, after the turns, stored with no speaker (as
    a transcript saved with its speakers where one stretch has none); no voices then."""
    database = Database(database_url)
    try:
        with db_session_context(database.session_factory) as session:
            videos = VideoService(session)
            video = videos.register(
                media_path=Path("/media/panel.mp4"), source_type="path", source_uri="panel.mp4"
            )
            for status in (VideoStatus.TRANSCRIBING, VideoStatus.TRANSCRIBED):
                videos.transition(video.id, status)
            service = TranscriptService(session)
            spoken = (
                segment(0, 0.5, "Welcome", "to", "the", "penguin", "panel."),
                segment(1, 4.2, "Thanks", "for", "having", "me."),
            )
            if unattributed is None:
                record = service.save(
                    video.id, Transcript(language="en", duration=8.0, model="m", segments=spoken)
                )
                voices = (
                    {"SPEAKER_1": np.linspace(1.0, 2.0, 8, dtype=np.float32)} if centroids else {}
                )
                service.apply_speakers(record.id, TURNS, voices)
            else:
                service.save(
                    video.id,
                    Transcript(
                        language="en",
                        duration=12.0,
                        model="m",
                        segments=(
                            _spoken_by(spoken[0], "SPEAKER_1"),
                            _spoken_by(spoken[1], "SPEAKER_2"),
                            segment(2, 8.5, *unattributed.split()),
                        ),
                        speakers=(
                            Speaker(label="SPEAKER_1", talk_time=4.0),
                            Speaker(label="SPEAKER_2", talk_time=4.0),
                        ),
                        turns=TURNS,
                    ),
                )
            videos.transition(video.id, VideoStatus.SUMMARIZING)
            segments = service.load(video.id).segments
            summary = Summary(
                abstract="A panel on penguins.",
                key_points=(KeyPoint(text="Thanks for having me.", start=4.2, end=6.0),),
                chapters=(Chapter(start=0.0, end=8.0, title="Penguins", summary="Hello."),),
                keywords=("penguin",),
                method="extractive",
            )
            VideoSummaryService(session).save_summary(
                video.id, attribute_speakers(summary, segments)
            )
            return video.id
    finally:
        database.dispose()
