"""Embedded mode loses nothing when its process dies: events already handed to the in-memory
queue are delivered again by the next run, and only to the consumers that missed them."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.support import media
from vidigest.app import Vidigest
from vidigest.config import Settings
from vidigest.messaging.models import OutboxEvent, ProcessedMessage
from vidigest.modules.summary.models import VideoSummaryRecord
from vidigest.modules.transcription.models import TranscriptRecord
from vidigest.modules.videos.models import Video

pytestmark = pytest.mark.slow


def test_a_new_run_finishes_what_a_dead_one_left(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    clip = media.speech(tmp_path, "Honey bees collect nectar from flowers.")

    dead = Vidigest.open(settings)
    video = dead.register_path(clip)
    dying = dead.embedded_runtime()
    assert dying.relay.publish_all() == 1  # marked published, held only in this process...
    dead.close()  # ...which dies before delivering it

    app = Vidigest.open(settings)
    try:
        runtime = app.embedded_runtime()
        deliveries = runtime.run_until_idle()
        assert [(d.subscriber, d.result.outcome.value) for d in deliveries] == [
            ("transcription-worker", "processed"),
            ("indexing-worker", "processed"),  # before the summary: COMPLETED is searchable
            ("summary-worker", "processed"),
            ("webhook-dispatcher", "processed"),  # summary.completed: no endpoint, nothing owed
        ]
        with app.database.session() as session:
            assert session.get(Video, video.id).status == "COMPLETED"  # type: ignore[union-attr]
            for model in (TranscriptRecord, VideoSummaryRecord):
                assert session.scalar(select(func.count()).select_from(model)) == 1
            assert session.scalar(select(func.count()).select_from(ProcessedMessage)) == 4
            assert (
                session.scalar(
                    select(func.count())
                    .select_from(OutboxEvent)
                    .where(OutboxEvent.published_at.is_(None))
                )
                == 0
            )
        # a later run has nothing to recover: everything was processed
        assert app.embedded_runtime().recover() == 0
    finally:
        app.close()
