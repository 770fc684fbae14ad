"""Speakers stored with the transcript in the completing transaction, read back, renamed,
searched, and saved as voice profiles: real services on both databases."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select

from tests.support.factories import register_video, registered_event
from vidigest.common.constants import VideoStatus
from vidigest.common.exceptions import NotFoundError
from vidigest.common.types import NullProgress, Segment, Speaker, SpeakerTurn, Transcript, Word
from vidigest.database.session import Database
from vidigest.messaging.models import OutboxEvent
from vidigest.modules.search.service import search_segments
from vidigest.modules.speakers.pipeline import SpeakerResult
from vidigest.modules.speakers.service import (
    SpeakerConflictError,
    SpeakerService,
    VoiceProfileService,
    profile_names,
)
from vidigest.modules.transcription.asr import Window
from vidigest.modules.transcription.service import TranscriptionResult, TranscriptService
from vidigest.modules.transcription.step import Transcriber, TranscriptionStep
from vidigest.modules.videos.service import VideoService


def words(start: float, *texts: str) -> tuple[Word, ...]:
    return tuple(
        Word(start=start + i, end=start + i + 0.8, text=f" {t}", probability=0.9)
        for i, t in enumerate(texts)
    )


def segment(index: int, start: float, *texts: str) -> Segment:
    w = words(start, *texts)
    return Segment(
        index=index, start=start, end=w[-1].end, text="".join(x.text for x in w), words=w
    )


TURNS = (
    SpeakerTurn(start=0.0, end=2.9, speaker="SPEAKER_1"),
    SpeakerTurn(start=3.0, end=9.0, speaker="SPEAKER_2"),
    SpeakerTurn(start=9.0, end=12.0, speaker="SPEAKER_1"),
)
VOICE_1 = np.array([3.0, 4.0, 0.0], dtype=np.float32)  # stored normalised: (0.6, 0.8, 0)
VOICE_2 = np.array([0.0, 0.0, 2.0], dtype=np.float32)


def no_transcriber(spec: str | None) -> Transcriber:
    raise AssertionError("complete() transcribes nothing")


def test_a_diarization_is_stored_in_the_completing_transaction(db: Database) -> None:
    video = register_video(db)
    with db.session() as session:
        VideoService(session).transition(video.id, VideoStatus.TRANSCRIBING)
    # a long file: the first window is already stored, the last one is pending
    first = Window(
        start=0.0,
        end=5.0,
        segments=(segment(0, 0.0, "alpha", "beta", "gamma", "delta"),),  # split at 3 s
        language="en",
        language_probability=0.9,
        last=False,
        duration=12.0,
        model="m",
    )
    with db.session() as session:
        transcript_id = TranscriptService(session).start_partial(video.id, first)
    result = TranscriptionResult(
        transcript_id=transcript_id,
        stored_segments=1,
        resume_at=5.0,
        pending=(segment(1, 6.0, "epsilon", "zeta", "eta", "theta"),),  # split at 9 s
        language="en",
        language_probability=None,
        duration=12.0,
        model="m",
        speakers=SpeakerResult(
            turns=TURNS, centroids={"SPEAKER_1": VOICE_1, "SPEAKER_2": VOICE_2}, names={}
        ),
    )
    step = TranscriptionStep(no_transcriber, lambda v, p: NullProgress(), db.session_factory)
    with db.session() as session:
        step.complete(session, registered_event(video), result)

    with db.session() as session:
        transcript = TranscriptService(session).load(video.id)
        events = session.scalars(select(OutboxEvent).order_by(OutboxEvent.id)).all()
    assert [(s.index, s.speaker, s.text) for s in transcript.segments] == [
        (0, "SPEAKER_1", " alpha beta gamma"),
        (1, "SPEAKER_2", " delta"),
        (2, "SPEAKER_2", " epsilon zeta eta"),
        (3, "SPEAKER_1", " theta"),
    ]
    assert all(w.speaker == s.speaker for s in transcript.segments for w in s.words)
    assert transcript.turns == TURNS
    assert [(s.label, s.name) for s in transcript.speakers] == [
        ("SPEAKER_1", None),
        ("SPEAKER_2", None),
    ]
    assert [s.talk_time for s in transcript.speakers] == pytest.approx([5.9, 6.0])
    # the event counts the split segments
    assert events[-1].payload["payload"]["segment_count"] == 4

    # search finds a split segment and names its speaker; a rename shows at once
    with db.session() as session:
        (hit,) = search_segments(session, "theta")
        assert (hit.segment_index, hit.speaker, hit.speaker_name) == (3, "SPEAKER_1", "Speaker 1")
        SpeakerService(session).rename(video.id, "SPEAKER_1", "  Ada  ")
    with db.session() as session:
        (hit,) = search_segments(session, "theta")
        assert hit.speaker_name == "Ada"
        assert [s.display_name for s in SpeakerService(session).of_video(video.id)] == [
            "Ada",
            "Speaker 2",
        ]


def test_rename_refuses_unknown_labels_and_bad_names(db: Database) -> None:
    video = register_video(db)
    transcript = Transcript(
        language="en",
        duration=2.0,
        model="m",
        segments=(segment(0, 0.0, "hi").model_copy(update={"speaker": "SPEAKER_1"}),),
        speakers=(Speaker(label="SPEAKER_1", talk_time=1.0),),
        turns=(SpeakerTurn(start=0.0, end=1.0, speaker="SPEAKER_1"),),
    )
    with db.session() as session:
        TranscriptService(session).save(video.id, transcript)
    with db.session() as session:
        assert TranscriptService(session).load(video.id) == transcript  # a full round trip
        service = SpeakerService(session)
        with pytest.raises(NotFoundError):
            service.rename(video.id, "SPEAKER_9", "Bob")
        with pytest.raises(ValueError):
            service.rename(video.id, "SPEAKER_1", "two\nlines")
        assert service.rename(video.id, "SPEAKER_1", "Bob").display_name == "Bob"
        assert service.rename(video.id, "SPEAKER_1", None).display_name == "Speaker 1"
        # saved by `save()` without a centroid: nothing to make a voice profile of
        with pytest.raises(SpeakerConflictError):
            VoiceProfileService(session).save(video.id, "SPEAKER_1", "Bob")


def test_voice_profiles_keep_the_unit_embedding_and_unique_names(db: Database) -> None:
    video = register_video(db)
    with db.session() as session:
        service = TranscriptService(session)
        record = service.save(
            video.id,
            Transcript(
                language="en",
                duration=12.0,
                model="m",
                segments=(segment(0, 0.0, "a", "b", "c", "d"),),
            ),
        )
        assert service.apply_speakers(record.id, TURNS, {"SPEAKER_1": VOICE_1}) == 2
    with db.session() as session:
        voices = VoiceProfileService(session)
        saved = voices.save(video.id, "SPEAKER_1", "Ada")
        assert (saved.source_video_id, saved.source_speaker) == (video.id, "SPEAKER_1")
        with pytest.raises(SpeakerConflictError):
            voices.save(video.id, "SPEAKER_1", "Ada")  # the name is taken
        with pytest.raises(SpeakerConflictError):
            voices.save(video.id, "SPEAKER_2", "Grace")  # no centroid stored for it
        ((name, embedding),) = voices.embeddings()
        assert name == "Ada"
        np.testing.assert_allclose(embedding, [0.6, 0.8, 0.0], atol=1e-7)
        # saving names the speaker in its own video too
        assert SpeakerService(session).of_video(video.id)[0].name == "Ada"
        # without a matcher (no engine in this process) no name comes from profiles
        assert profile_names(session, {"SPEAKER_1": VOICE_1}, None) == {}
    with db.session() as session:
        voices = VoiceProfileService(session)
        voices.delete(saved.id)
        assert voices.all() == []
        with pytest.raises(NotFoundError):
            voices.delete(saved.id)
        # names a deleted profile gave stay
        assert SpeakerService(session).of_video(video.id)[0].name == "Ada"


def test_retry_clears_speakers_with_the_transcript(db: Database) -> None:
    video = register_video(db)
    with db.session() as session:
        service = TranscriptService(session)
        record = service.save(
            video.id,
            Transcript(
                language="en",
                duration=12.0,
                model="m",
                segments=(segment(0, 0.0, "a", "b", "c", "d"),),
            ),
        )
        service.apply_speakers(record.id, TURNS, {"SPEAKER_1": VOICE_1})
        VideoService(session).transition(
            video.id, VideoStatus.FAILED, allowed={VideoStatus.REGISTERED}
        )
    with db.session() as session:
        VideoService(session).retry(video.id)
    with db.session() as session, pytest.raises(NotFoundError):
        SpeakerService(session).of_video(video.id)
