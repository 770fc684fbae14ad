"""Corrections of a completed transcript: edit a segment's text or speaker, find and replace
across the transcript, and read back what a segment said before.

Each segment has a version (1: as recognised). An edit names the version it changes; the one
UPDATE that stores it is conditional on that version (`... WHERE version = :seen`), so of two
people correcting one segment the second is refused (`EditConflictError`, 409 at the API) and
keeps what they typed. The versions a correction replaces are kept in
`transcript_segment_versions`, the recognised text first: nothing is ever lost.

A correction changes the rows the segments' full-text index is built from (SQLite triggers, a
PostgreSQL expression index), so segment search sees it when the transaction commits. In the
same transaction the transcript's revision goes up by one and a `transcript.edited` event is
written to the outbox: the summary stage summarises the transcript again and the indexing stage
rebuilds the video's passages (what search finds); any other consumer may follow it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from vidigest.common.constants import EventType, VideoStatus
from vidigest.common.exceptions import NotFoundError, VideoStateError, VidigestError
from vidigest.common.text import storable
from vidigest.common.types import Event, TranscriptEdited
from vidigest.database.base import utcnow
from vidigest.messaging.outbox import OutboxService
from vidigest.modules.transcription.models import (
    TranscriptRecord,
    TranscriptSegment,
    TranscriptSegmentVersion,
    TranscriptSpeaker,
    TranscriptWord,
)
from vidigest.modules.transcription.service import TranscriptService, transcript_text
from vidigest.modules.videos.service import VideoService

MAX_SEGMENT_TEXT = 5000  # characters of one segment
MAX_FIND = 200
MAX_REPLACEMENT = 1000
MAX_PREVIEW = 500  # changes listed by a find and replace (the count covers them all)

ASR = "asr"
EDIT = "edit"
REPLACE = "replace"


class EditConflictError(VidigestError):
    """The segment (or transcript) changed since the version the edit names: nothing was
    stored. `current` is the segment as it is now (None for a whole-transcript conflict)."""

    permanent = True

    def __init__(self, message: str, current: SegmentView | None = None) -> None:
        super().__init__(message)
        self.current = current


class InvalidEditError(VidigestError, ValueError):
    """An edit that can never be stored as asked (an unknown speaker, text too long)."""

    permanent = True


@dataclass(frozen=True)
class SegmentView:
    index: int
    start: float
    end: float
    text: str
    speaker: str | None
    version: int  # 1: as recognised

    @property
    def edited(self) -> bool:
        return self.version > 1


@dataclass(frozen=True)
class SegmentVersionView:
    version: int
    text: str
    speaker: str | None
    source: str  # "asr" (as recognised), "edit" or "replace"
    created_at: datetime | None  # None: the recognised text of a segment never corrected


@dataclass(frozen=True)
class Change:
    index: int
    version: int  # the version it replaces
    before: str
    after: str
    count: int  # occurrences in this segment


@dataclass(frozen=True)
class ReplaceResult:
    count: int  # occurrences, in every segment
    segments: int  # segments that change
    changes: tuple[Change, ...]  # at most MAX_PREVIEW
    applied: bool
    revision: int  # the transcript's revision after (or, for a preview, as it is)


def _one_line(text: str) -> str:
    return storable(" ".join(text.split()))


def clean_text(text: str) -> str:
    """A segment's text as stored: one line (whitespace runs become one space), no NUL."""
    cleaned = _one_line(text)
    if len(cleaned) > MAX_SEGMENT_TEXT:
        raise InvalidEditError(f"a segment holds at most {MAX_SEGMENT_TEXT} characters")
    return cleaned


def find_pattern(find: str, *, match_case: bool, whole_word: bool) -> re.Pattern[str]:
    """The literal `find` as a pattern (never a regular expression of the user's)."""
    if not find.strip():
        raise InvalidEditError("nothing to find")
    if len(find) > MAX_FIND:
        raise InvalidEditError(f"the text to find is at most {MAX_FIND} characters")
    pattern = re.escape(find)
    if whole_word:
        pattern = rf"(?<!\w){pattern}(?!\w)"
    return re.compile(pattern, 0 if match_case else re.IGNORECASE)


def _view(row: TranscriptSegment) -> SegmentView:
    return SegmentView(
        index=row.position,
        start=row.start_time,
        end=row.end_time,
        text=row.text,
        speaker=row.speaker,
        version=row.version,
    )


class TranscriptEditService:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.transcripts = TranscriptService(session)

    # --- reading ---------------------------------------------------------------------------

    def _editable(self, video_id: str) -> TranscriptRecord:
        """The transcript of a COMPLETED video: one being processed (or failed) has a
        summary on its way (or none), so it is not corrected meanwhile."""
        record = self.transcripts.get_record(video_id)
        status = VideoService(self.session).get(video_id).status
        if status != VideoStatus.COMPLETED.value:
            raise VideoStateError(
                f"video {video_id} is {status}: a transcript can be corrected once the video "
                "is COMPLETED"
            )
        return record

    def segments(self, video_id: str) -> tuple[int, list[SegmentView]]:
        """(the transcript's revision, its segments with their versions)."""
        record = self.transcripts.get_record(video_id)
        return record.revision, [_view(row) for row in self._segment_rows(record.id)]

    def _segment_rows(self, transcript_id: str) -> Sequence[TranscriptSegment]:
        return self.session.scalars(
            select(TranscriptSegment)
            .where(TranscriptSegment.transcript_id == transcript_id)
            .order_by(TranscriptSegment.position)
        ).all()

    def _row(self, transcript_id: str, index: int) -> TranscriptSegment:
        row = self.session.scalar(
            select(TranscriptSegment).where(
                TranscriptSegment.transcript_id == transcript_id,
                TranscriptSegment.position == index,
            )
        )
        if row is None:
            raise NotFoundError(f"the transcript has no segment {index}")
        return row

    def history(self, video_id: str, index: int) -> list[SegmentVersionView]:
        """Every version of the segment, oldest first: the recognised text is version 1."""
        record = self.transcripts.get_record(video_id)
        row = self._row(record.id, index)
        stored = self.session.scalars(
            select(TranscriptSegmentVersion)
            .where(
                TranscriptSegmentVersion.transcript_id == record.id,
                TranscriptSegmentVersion.segment_position == index,
            )
            .order_by(TranscriptSegmentVersion.version)
        ).all()
        if not stored:
            return [SegmentVersionView(1, row.text, row.speaker, ASR, None)]
        return [
            SegmentVersionView(v.version, v.text, v.speaker, v.source, v.created_at) for v in stored
        ]

    # --- correcting ------------------------------------------------------------------------

    def edit_segment(
        self,
        video_id: str,
        index: int,
        *,
        version: int,
        text: str | None = None,
        speaker: str | None = None,
    ) -> tuple[SegmentView, int]:
        """Change a segment's text and/or speaker (None: unchanged), if it is still at
        `version`. Returns (the segment now, the transcript's revision). Nothing changes, and
        no event is written, when the values are the ones stored (spacing aside)."""
        record = self._editable(video_id)
        row = self._row(record.id, index)
        current = _view(row)
        if row.version != version:
            raise EditConflictError(
                f"segment {index} was changed elsewhere (it is at version {row.version}, the "
                f"edit was made on version {version}): reload it",
                current,
            )
        new_text = current.text
        if text is not None:
            cleaned = clean_text(text)
            # recognised text keeps its spacing (" Hello."): spacing alone is no correction
            if cleaned != _one_line(current.text):
                new_text = cleaned
        new_speaker = current.speaker if speaker is None else self._speaker(record.id, speaker)
        if new_text == current.text and new_speaker == current.speaker:
            return current, record.revision
        self._store(record.id, current, new_text, new_speaker, EDIT)
        revision = self._edited(video_id, record.id, [index], EDIT)
        after = SegmentView(
            current.index, current.start, current.end, new_text, new_speaker, current.version + 1
        )
        return after, revision

    def replace(
        self,
        video_id: str,
        find: str,
        replacement: str,
        *,
        match_case: bool = False,
        whole_word: bool = False,
        apply: bool = True,
        expected_revision: int | None = None,
    ) -> ReplaceResult:
        """Replace every occurrence of the literal `find` in the transcript (a preview when not
        `apply`). With `expected_revision` (from a preview), refused if anything was
        corrected since."""
        pattern = find_pattern(find, match_case=match_case, whole_word=whole_word)
        if len(replacement) > MAX_REPLACEMENT:
            raise InvalidEditError(f"the replacement is at most {MAX_REPLACEMENT} characters")
        record = self._editable(video_id) if apply else self.transcripts.get_record(video_id)
        if expected_revision is not None and expected_revision != record.revision:
            raise EditConflictError(
                f"the transcript was corrected elsewhere (revision {record.revision}, the "
                f"preview was of revision {expected_revision}): preview again"
            )
        changed: list[tuple[TranscriptSegment, Change]] = []
        for row in self._segment_rows(record.id):
            replaced, n = pattern.subn(lambda _m: replacement, row.text)
            if n:
                after = clean_text(replaced)
                if after != _one_line(row.text):
                    changed.append((row, Change(row.position, row.version, row.text, after, n)))
        changes = [change for _, change in changed]
        count = sum(c.count for c in changes)
        revision = record.revision
        if apply and changes:
            for row, change in changed:
                self._store(record.id, _view(row), change.after, row.speaker, REPLACE)
            revision = self._edited(video_id, record.id, [c.index for c in changes], REPLACE)
        return ReplaceResult(
            count=count,
            segments=len(changes),
            changes=tuple(changes[:MAX_PREVIEW]),
            applied=apply and bool(changes),
            revision=revision,
        )

    def _speaker(self, transcript_id: str, label: str) -> str:
        labels = set(
            self.session.scalars(
                select(TranscriptSpeaker.label).where(
                    TranscriptSpeaker.transcript_id == transcript_id
                )
            ).all()
        )
        if not labels:
            raise InvalidEditError("this transcript has no speakers to choose from")
        if label not in labels:
            raise InvalidEditError(f"unknown speaker {label!r}: one of {', '.join(sorted(labels))}")
        return label

    def _store(
        self,
        transcript_id: str,
        current: SegmentView,
        text: str,
        speaker: str | None,
        source: str,
    ) -> None:
        """One conditional UPDATE (the version seen), then the versions kept: the one replaced
        when it is the recognised one (later ones were kept when they were made), and the new
        one. The UPDATE comes first: of two racing edits the second waits on the row and then
        finds another version, before it writes anything."""
        changed = self.session.execute(
            update(TranscriptSegment)
            .where(
                TranscriptSegment.transcript_id == transcript_id,
                TranscriptSegment.position == current.index,
                TranscriptSegment.version == current.version,
            )
            .values(text=text, speaker=speaker, version=current.version + 1)
            .execution_options(synchronize_session=False)
        )
        if int(getattr(changed, "rowcount", 0)) != 1:
            self.session.expire_all()
            stored = self._row(transcript_id, current.index)
            raise EditConflictError(
                f"segment {current.index} was changed elsewhere: reload it", _view(stored)
            )
        now = utcnow()
        rows = []
        if current.version == 1:
            rows.append(
                {
                    "transcript_id": transcript_id,
                    "segment_position": current.index,
                    "version": 1,
                    "text": current.text,
                    "speaker": current.speaker,
                    "source": ASR,
                    "created_at": now,
                }
            )
        rows.append(
            {
                "transcript_id": transcript_id,
                "segment_position": current.index,
                "version": current.version + 1,
                "text": text,
                "speaker": speaker,
                "source": source,
                "created_at": now,
            }
        )
        self.session.execute(insert(TranscriptSegmentVersion), rows)
        if speaker != current.speaker:
            self.session.execute(
                update(TranscriptWord)
                .where(
                    TranscriptWord.transcript_id == transcript_id,
                    TranscriptWord.segment_position == current.index,
                )
                .values(speaker=speaker)
                .execution_options(synchronize_session=False)
            )

    def _edited(self, video_id: str, transcript_id: str, indexes: Sequence[int], kind: str) -> int:
        """The transcript's text and revision, and its `transcript.edited` event, in the
        caller's transaction; returns the new revision."""
        texts = self.session.scalars(
            select(TranscriptSegment.text)
            .where(TranscriptSegment.transcript_id == transcript_id)
            .order_by(TranscriptSegment.position)
        ).all()
        self.session.execute(
            update(TranscriptRecord)
            .where(TranscriptRecord.id == transcript_id)
            .values(
                revision=TranscriptRecord.revision + 1,
                text=transcript_text(texts),
            )
            .execution_options(synchronize_session=False)
        )
        revision = int(
            self.session.scalar(
                select(TranscriptRecord.revision).where(TranscriptRecord.id == transcript_id)
            )
            or 0
        )
        self.session.expire_all()
        OutboxService(self.session).add(
            Event(
                event_type=EventType.TRANSCRIPT_EDITED,
                aggregate_id=video_id,
                payload=TranscriptEdited(
                    video_id=video_id,
                    transcript_id=transcript_id,
                    revision=revision,
                    segments=tuple(indexes),
                    kind=kind,
                ).model_dump(mode="json"),
            )
        )
        return revision
