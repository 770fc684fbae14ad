"""Stored transcripts: the storage side of the transcription stage (its step: `step.py`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from vidigest.common.exceptions import NotFoundError, VidigestError
from vidigest.common.types import (
    Segment,
    Speaker,
    SpeakerTurn,
    Transcript,
    Word,
)
from vidigest.database.base import new_uuid
from vidigest.database.repository import GenericRepository
from vidigest.database.session import SessionFactory, db_session_context
from vidigest.modules.speakers.assign import assign_speakers, talk_time
from vidigest.modules.speakers.pipeline import SpeakerResult
from vidigest.modules.transcription.asr import Window
from vidigest.modules.transcription.models import (
    COMPLETE,
    IN_PROGRESS,
    TranscriptRecord,
    TranscriptSegment,
    TranscriptSpeaker,
    TranscriptTurn,
    TranscriptWord,
)
from vidigest.modules.videos.service import VideoService

log = logging.getLogger(__name__)


class TranscriptConflictError(VidigestError):
    """The partial transcript changed under us (another delivery of the same message appended
    to it): this attempt stops; a retry resumes from what is stored or finds it complete."""


@dataclass(frozen=True)
class PartialTranscript:
    """What a restarted transcription resumes from."""

    id: str
    model: str
    language: str
    resume_at: float  # seconds: where the next window starts
    segment_count: int
    last_end: float | None  # end of the last stored segment


@dataclass(frozen=True)
class TranscriptionResult:
    """What `run` leaves for the final transaction: the segments not stored yet (the last
    window's; for short media, all of them) and the row they join (None: not created yet)."""

    transcript_id: str | None
    stored_segments: int  # already in the database
    resume_at: float  # the partial row's position when `run` last appended to it
    pending: tuple[Segment, ...]
    language: str
    language_probability: float | None
    duration: float
    model: str
    # who said what, stored with the transcript in the completing transaction (None: not
    # diarized: off, no engine, or nothing said)
    speakers: SpeakerResult | None = None

    @property
    def segment_count(self) -> int:
        return self.stored_segments + len(self.pending)


def _rows(transcript_id: str, segments: Sequence[Segment]) -> tuple[list[Any], list[Any]]:
    segment_rows = [
        {
            "transcript_id": transcript_id,
            "position": s.index,
            "start_time": s.start,
            "end_time": s.end,
            "text": s.text,
            "speaker": s.speaker,
        }
        for s in segments
    ]
    word_rows = [
        {
            "transcript_id": transcript_id,
            "segment_position": s.index,
            "position": i,
            "start_time": w.start,
            "end_time": w.end,
            "text": w.text,
            "probability": w.probability,
            "speaker": w.speaker,
        }
        for s in segments
        for i, w in enumerate(s.words)
    ]
    return segment_rows, word_rows


def _probability(value: float | None) -> dict[str, float]:
    """Once the language is locked, later windows carry no probability: keep the stored one."""
    return {} if value is None else {"language_probability": value}


def transcript_text(texts: Sequence[str]) -> str:
    """A transcript's text: its segments' texts, trimmed, joined by one space."""
    return " ".join(t.strip() for t in texts if t.strip())


Centroid = npt.NDArray[np.float32]


def centroid_bytes(vector: npt.ArrayLike) -> bytes:
    """A voice embedding as stored: float32, little-endian, L2-normalised."""
    array = np.asarray(vector, dtype="<f4").reshape(-1)
    norm = float(np.linalg.norm(array))
    if not np.isfinite(norm) or norm == 0.0:
        raise ValueError("a voice embedding must be finite and not zero")
    return (array / norm).astype("<f4").tobytes()


def centroid_array(data: bytes) -> Centroid:
    return np.frombuffer(data, dtype="<f4").astype(np.float32)


def _speakers(turns: Sequence[SpeakerTurn], names: Mapping[str, str]) -> tuple[Speaker, ...]:
    """The speakers of a diarization: talk time, and the name a voice profile gave."""
    return tuple(
        Speaker(label=label, name=names.get(label), talk_time=seconds)
        for label, seconds in talk_time(turns).items()
    )


class TranscriptService:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.records = GenericRepository(session, TranscriptRecord)

    def save(self, video_id: str, transcript: Transcript) -> TranscriptRecord:
        """A complete transcript, its segments and words (and its speakers and turns, if it
        was diarized)."""
        record = self._create(
            video_id,
            transcript,
            text=transcript.text,
            state=COMPLETE,
            resume_at=transcript.duration,
        )
        self._insert_speakers(record.id, transcript.speakers, transcript.turns, {})
        return record

    def _create(
        self, video_id: str, made: Transcript | Window, *, text: str, state: str, resume_at: float
    ) -> TranscriptRecord:
        """Transcript, segments and words: three INSERT statements whatever the length."""
        record = self.records.add(
            TranscriptRecord(
                id=new_uuid(),
                video_id=video_id,
                language=made.language,
                language_probability=made.language_probability,
                duration=made.duration,
                model=made.model,
                text=text,
                state=state,
                resume_at=resume_at,
                segment_count=len(made.segments),
            )
        )
        self.session.flush()  # the transcript row must exist before the rows that reference it
        self._insert_segments(record.id, made.segments)
        return record

    def _insert_segments(self, transcript_id: str, segments: Sequence[Segment]) -> None:
        segment_rows, word_rows = _rows(transcript_id, segments)
        if segment_rows:
            self.session.execute(insert(TranscriptSegment), segment_rows)
        if word_rows:
            self.session.execute(insert(TranscriptWord), word_rows)

    # --- long media: windows appended as they are decoded ---------------------------------

    def find_partial(self, video_id: str) -> PartialTranscript | None:
        """The in-progress transcript of a video, if a previous attempt left one."""
        record = self.records.find_one({"video_id": video_id, "state": IN_PROGRESS})
        if record is None:
            return None
        last_end = None
        if record.segment_count:
            last_end = self.session.scalar(
                select(TranscriptSegment.end_time).where(
                    TranscriptSegment.transcript_id == record.id,
                    TranscriptSegment.position == record.segment_count - 1,
                )
            )
        return PartialTranscript(
            id=record.id,
            model=record.model,
            language=record.language,
            resume_at=record.resume_at,
            segment_count=record.segment_count,
            last_end=last_end,
        )

    def discard_partial(self, transcript_id: str) -> None:
        self.records.delete_where({"id": transcript_id, "state": IN_PROGRESS})

    def start_partial(self, video_id: str, window: Window) -> str:
        """Create the in-progress transcript with its first window."""
        return self._create(video_id, window, text="", state=IN_PROGRESS, resume_at=window.end).id

    def append(self, transcript_id: str, window: Window, *, stored: int, resume_at: float) -> None:
        """Append a window's segments to the in-progress transcript that holds `stored`
        segments up to `resume_at`; TranscriptConflictError if it does not any more (checked
        first: a stale delivery is refused before it writes anything)."""
        self._advance(
            transcript_id,
            stored=stored,
            resume_at=resume_at,
            values={
                "resume_at": window.end,
                "segment_count": stored + len(window.segments),
                "language": window.language,
                **_probability(window.language_probability),
            },
        )
        self._insert_segments(transcript_id, window.segments)

    def finish(self, video_id: str, result: TranscriptionResult) -> tuple[str, int]:
        """Store the last segments and mark the transcript complete (or create it complete),
        with its speakers when it was diarized. Returns (transcript id, segment count): speaker
        changes split segments, so the count can grow."""
        found = result.speakers
        if result.transcript_id is None:
            segments = result.pending
            speakers: tuple[Speaker, ...] = ()
            if found is not None and found.turns:
                segments = assign_speakers(segments, found.turns)
                speakers = _speakers(found.turns, found.names)
            record = self._create(
                video_id,
                Transcript(
                    language=result.language,
                    language_probability=result.language_probability,
                    duration=result.duration,
                    model=result.model,
                    segments=segments,
                ),
                text=transcript_text([s.text for s in segments]),
                state=COMPLETE,
                resume_at=result.duration,
            )
            if found is not None:
                self._insert_speakers(record.id, speakers, found.turns, found.centroids)
            return record.id, len(segments)
        stored = self.session.scalars(
            select(TranscriptSegment.text)
            .where(TranscriptSegment.transcript_id == result.transcript_id)
            .order_by(TranscriptSegment.position)
        ).all()
        texts = [*stored, *(s.text for s in result.pending)]
        self._advance(
            result.transcript_id,
            stored=result.stored_segments,
            resume_at=result.resume_at,
            values={
                "state": COMPLETE,
                "text": transcript_text(texts),
                "resume_at": result.duration,
                "segment_count": result.segment_count,
                "duration": result.duration,
                "language": result.language,
                **_probability(result.language_probability),
            },
        )
        self._insert_segments(result.transcript_id, result.pending)
        count = result.segment_count
        if found is not None:  # windows stored earlier have no speakers yet: rewrite them all
            count = self.apply_speakers(
                result.transcript_id, found.turns, found.centroids, found.names
            )
        return result.transcript_id, count

    def _advance(
        self, transcript_id: str, *, stored: int, resume_at: float, values: dict[str, Any]
    ) -> None:
        """Compare-and-set on (state, segment_count, resume_at): one UPDATE."""
        changed = self.session.execute(
            update(TranscriptRecord)
            .where(
                TranscriptRecord.id == transcript_id,
                TranscriptRecord.state == IN_PROGRESS,
                TranscriptRecord.segment_count == stored,
                TranscriptRecord.resume_at == resume_at,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if getattr(changed, "rowcount", 0) != 1:
            raise TranscriptConflictError(
                f"transcript {transcript_id} changed while this attempt appended to it"
            )

    # --- speakers ----------------------------------------------------------------------------

    def apply_speakers(
        self,
        transcript_id: str,
        turns: Sequence[SpeakerTurn],
        centroids: Mapping[str, npt.ArrayLike],
        names: Mapping[str, str] | None = None,
    ) -> int:
        """Store a diarization with the complete transcript, in the caller's transaction (the
        one that completes it): every segment and word gets its speaker (segments split where
        the speaker changes, `assign_speakers`), and the turns and the speakers (talk time,
        voice centroid, a name from `names`, e.g. a matching voice profile) are stored. The
        segments are rewritten as a whole; returns their count. Without turns nothing changes.
        """
        record = self.records.get(transcript_id)
        if record is None:
            raise NotFoundError(f"no transcript {transcript_id}")
        if not turns:
            return record.segment_count
        segments = assign_speakers(self._segments(transcript_id), turns)
        speakers = _speakers(turns, names or {})
        self.session.execute(
            delete(TranscriptWord).where(TranscriptWord.transcript_id == transcript_id)
        )
        self.session.execute(
            delete(TranscriptSegment).where(TranscriptSegment.transcript_id == transcript_id)
        )
        self._insert_segments(transcript_id, segments)
        self._insert_speakers(transcript_id, speakers, turns, centroids)
        record.segment_count = len(segments)
        record.text = transcript_text([s.text for s in segments])
        return len(segments)

    def _insert_speakers(
        self,
        transcript_id: str,
        speakers: Sequence[Speaker],
        turns: Sequence[SpeakerTurn],
        centroids: Mapping[str, npt.ArrayLike],
    ) -> None:
        ordered = sorted(turns, key=lambda t: (t.start, t.end))
        if ordered:
            self.session.execute(
                insert(TranscriptTurn),
                [
                    {
                        "transcript_id": transcript_id,
                        "position": i,
                        "start_time": t.start,
                        "end_time": t.end,
                        "speaker": t.speaker,
                    }
                    for i, t in enumerate(ordered)
                ],
            )
        if speakers:
            self.session.execute(
                insert(TranscriptSpeaker),
                [
                    {
                        "transcript_id": transcript_id,
                        "label": s.label,
                        "name": s.name,
                        "talk_time": s.talk_time,
                        "centroid": (
                            centroid_bytes(centroids[s.label]) if s.label in centroids else None
                        ),
                    }
                    for s in speakers
                ],
            )

    def speaker_rows(self, transcript_id: str) -> list[TranscriptSpeaker]:
        return GenericRepository(self.session, TranscriptSpeaker).find_all(
            {"transcript_id": transcript_id}, order_by="id"
        )

    def find_record(self, video_id: str) -> TranscriptRecord | None:
        """The video's complete transcript; windows stored for a resume are not one yet."""
        return self.records.find_one({"video_id": video_id, "state": COMPLETE})

    def get_record(self, video_id: str) -> TranscriptRecord:
        """The video's complete transcript: VideoNotFoundError for an unknown video, else
        NotFoundError (with the video's status) while it has none."""
        video = VideoService(self.session).get(video_id)
        record = self.find_record(video_id)
        if record is None:
            raise NotFoundError(f"no transcript yet for video {video_id} ({video.status})")
        return record

    def load(self, video_id: str) -> Transcript:
        record = self.find_record(video_id)
        if record is None:
            raise NotFoundError(f"no transcript for video {video_id}")
        segments = self._segments(record.id)
        speakers: tuple[Speaker, ...] = ()
        turns: tuple[SpeakerTurn, ...] = ()
        # diarized transcripts label every segment: others cost no query more than before
        if any(s.speaker is not None for s in segments):
            speakers = tuple(
                Speaker(label=s.label, name=s.name, talk_time=s.talk_time)
                for s in self.speaker_rows(record.id)
            )
            turns = tuple(
                SpeakerTurn(start=t.start_time, end=t.end_time, speaker=t.speaker)
                for t in GenericRepository(self.session, TranscriptTurn).find_all(
                    {"transcript_id": record.id}, order_by="position"
                )
            )
        return Transcript(
            language=record.language,
            language_probability=record.language_probability,
            duration=record.duration,
            model=record.model,
            segments=segments,
            speakers=speakers,
            turns=turns,
        )

    def _segments(self, transcript_id: str) -> tuple[Segment, ...]:
        words_by_segment: dict[int, list[Word]] = {}
        for w in GenericRepository(self.session, TranscriptWord).find_all(
            {"transcript_id": transcript_id}, order_by=["segment_position", "position"]
        ):
            words_by_segment.setdefault(w.segment_position, []).append(
                Word(
                    start=w.start_time,
                    end=w.end_time,
                    text=w.text,
                    probability=w.probability,
                    speaker=w.speaker,
                )
            )
        return tuple(
            Segment(
                index=s.position,
                start=s.start_time,
                end=s.end_time,
                text=s.text,
                words=tuple(words_by_segment.get(s.position, ())),
                speaker=s.speaker,
            )
            for s in GenericRepository(self.session, TranscriptSegment).find_all(
                {"transcript_id": transcript_id}, order_by="position"
            )
        )


def load_transcript(session_factory: SessionFactory, video_id: str) -> Transcript:
    with db_session_context(session_factory) as session:
        return TranscriptService(session).load(video_id)


def load_transcript_revision(
    session_factory: SessionFactory, video_id: str
) -> tuple[Transcript, int]:
    """The transcript and its revision (corrections made), read in one transaction."""
    with db_session_context(session_factory) as session:
        service = TranscriptService(session)
        record = service.find_record(video_id)
        return service.load(video_id), 0 if record is None else record.revision
