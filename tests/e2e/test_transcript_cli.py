"""`vidigest transcript` as a user runs it (a subprocess over a data directory): show, edit,
replace (dry run first), history, export; an edit makes the summary again (embedded)."""

from __future__ import annotations

import io
from pathlib import Path

import docx
import pypdf

from tests.support.cli import vidigest_cli
from tests.support.speakers import diarized_video
from vidigest.app import open_database
from vidigest.config import Settings
from vidigest.database.session import db_session_context
from vidigest.modules.summary.service import VideoSummaryService


def test_transcript_commands(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    open_database(settings, migrate=True).dispose()
    video_id = diarized_video(settings.resolved_database_url)

    shown = vidigest_cli("transcript", "show", video_id, data_dir=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "revision 0" in shown.stdout and "Welcome to the penguin panel." in shown.stdout

    edited = vidigest_cli(
        "transcript", "edit", video_id, "0", "Welcome to the walrus panel.", data_dir=tmp_path
    )
    assert edited.returncode == 0, edited.stderr
    assert "segment 0 is at version 2 (revision 1)" in edited.stdout
    assert "summary updated" in edited.stdout
    database = open_database(settings, migrate=False)
    try:
        with db_session_context(database.session_factory) as session:
            summaries = VideoSummaryService(session)
            assert summaries.stored_revision(video_id) == 1
            summary = summaries.load(video_id)
    finally:
        database.dispose()
    assert "walrus" in summary.abstract.lower()

    stale = vidigest_cli(
        "transcript", "edit", video_id, "0", "Seals.", "--version", "1", data_dir=tmp_path
    )
    assert stale.returncode == 1 and "changed elsewhere" in stale.stderr

    dry = vidigest_cli(
        "transcript", "replace", video_id, "walrus", "puffin", "--dry-run", data_dir=tmp_path
    )
    assert dry.returncode == 0, dry.stderr
    assert "1 occurrence(s) in 1 segment(s) would change" in dry.stdout
    assert "-> Welcome to the puffin panel." in dry.stdout
    replaced = vidigest_cli(
        "transcript", "replace", video_id, "walrus", "puffin", data_dir=tmp_path
    )
    assert "1 occurrence(s) in 1 segment(s) changed" in replaced.stdout, replaced.stderr

    history = vidigest_cli("transcript", "history", video_id, "0", data_dir=tmp_path)
    assert history.returncode == 0, history.stderr
    lines = [line for line in history.stdout.splitlines() if "panel" in line]
    assert ["penguin" in lines[0], "walrus" in lines[1], "puffin" in lines[2]] == [True] * 3
    assert "asr" in lines[0] and "replace" in lines[2]

    speaker = vidigest_cli(
        "transcript", "edit", video_id, "1", "--speaker", "SPEAKER_9", data_dir=tmp_path
    )
    assert speaker.returncode == 1 and "unknown speaker 'SPEAKER_9'" in speaker.stderr

    for name in ("talk.docx", "talk.pdf"):
        exported = vidigest_cli(
            "transcript", "export", video_id, str(tmp_path / name), data_dir=tmp_path
        )
        assert exported.returncode == 0, exported.stderr
    paragraphs = [p.text for p in docx.Document(str(tmp_path / "talk.docx")).paragraphs]
    assert "[0:00] Speaker 1: Welcome to the puffin panel." in paragraphs
    pdf = pypdf.PdfReader(io.BytesIO((tmp_path / "talk.pdf").read_bytes()))
    assert "Welcome to the puffin panel." in pdf.pages[0].extract_text()
    wrong = vidigest_cli(
        "transcript", "export", video_id, str(tmp_path / "t.odt"), data_dir=tmp_path
    )
    assert wrong.returncode == 1 and ".docx or .pdf" in wrong.stderr
