"""The `vidigest` command."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markdown import Markdown
from rich.markup import escape
from rich.table import Table
from typer.exceptions import TyperException

from vidigest import __version__
from vidigest.common.constants import VideoStatus
from vidigest.common.exceptions import VidigestError
from vidigest.config import Settings, get_settings

if TYPE_CHECKING:
    from vidigest.database.session import Database

app = typer.Typer(
    name="vidigest",
    help="Turn videos into searchable transcripts, summaries and chapters.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
videos_app = typer.Typer(help="Read back registered videos.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(videos_app, name="videos")
topics_app = typer.Typer(help="Kafka topics.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(topics_app, name="topics")
speakers_app = typer.Typer(help="Name the speakers of a video.", no_args_is_help=True)
voices_app = typer.Typer(
    help="Voice profiles: named voices later videos are matched against.", no_args_is_help=True
)
app.add_typer(speakers_app, name="speakers")
storage_app = typer.Typer(help="The media store (local directory or bucket).", no_args_is_help=True)
app.add_typer(storage_app, name="storage")
transcript_app = typer.Typer(
    help="Correct a transcript (the recognised text is kept) and export it.", no_args_is_help=True
)
app.add_typer(transcript_app, name="transcript")
app.add_typer(voices_app, name="voices")
webhooks_app = typer.Typer(
    help="Webhook endpoints: signed callbacks when a video completes, fails or progresses.",
    no_args_is_help=True,
)
app.add_typer(webhooks_app, name="webhooks")

out = Console()
err = Console(stderr=True)

TranscriptFormat = Literal["json", "srt", "vtt", "txt"]
ModelOption = Annotated[
    str | None,
    typer.Option("--model", help="fast | accurate | path to a CTranslate2 Whisper directory."),
]
LanguageOption = Annotated[
    str, typer.Option("--language", help="auto (detect) or a language code such as en, de.")
]
TaskOption = Annotated[
    Literal["transcribe", "translate"],
    typer.Option(
        "--task",
        help="transcribe (in the language spoken) or translate (into English; multilingual "
        "models such as accurate only).",
    ),
]
AudioTrackOption = Annotated[
    int,
    typer.Option("--audio-track", min=0, help="Audio stream to transcribe (0: the first)."),
]


SpeakersOption = Annotated[
    str | None,
    typer.Option(
        "--speakers",
        help="Who said what: auto (find the count), off, or a number of speakers "
        "[default: VIDIGEST_SPEAKERS, auto].",
    ),
]
MinSpeakersOption = Annotated[
    int | None, typer.Option("--min-speakers", min=1, help="At least this many (with auto).")
]
MaxSpeakersOption = Annotated[
    int | None, typer.Option("--max-speakers", min=1, help="At most this many (with auto).")
]


def _speaker_choice(
    speakers: str | None, min_speakers: int | None, max_speakers: int | None
) -> str | None:
    """The --speakers choice checked before any work (a VidigestError says what is allowed)."""
    from vidigest.common.speakers import check_bounds, parse_speakers

    choice = None if speakers is None else parse_speakers(speakers)
    check_bounds(choice or "auto", min_speakers, max_speakers)
    return choice


def _check_audio_track(file: Path, track: int) -> None:
    """Refuse a track the file does not have, before any work."""
    from vidigest.common.exceptions import MediaError
    from vidigest.media.probe import probe_media

    if track > 0 and track >= (streams := probe_media(file).audio_streams):
        raise MediaError(f"{file} has {streams} audio stream(s): --audio-track {track} is not one")


def _settings() -> Settings:
    return get_settings()


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details.")] = False,
    version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False,
) -> None:
    if version:
        out.print(f"vidigest {__version__}")
        raise typer.Exit()
    logging.basicConfig(
        level=logging.INFO if verbose else logging.ERROR,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # refusals (401/403/413/415, foreign Host) are logged at WARNING: shown at the default level
    logging.getLogger("vidigest.security").setLevel(logging.WARNING)


def _language(value: str) -> str | None:
    return None if value in ("", "auto") else value


@app.command()
def process(
    file: Annotated[Path, typer.Argument(help="A video or audio file.")],
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Output directory [default: ./<name>-vidigest].")
    ] = None,
    model: ModelOption = None,
    language: LanguageOption = "auto",
    task: TaskOption = "transcribe",
    audio_track: AudioTrackOption = 0,
    speakers: SpeakersOption = None,
    min_speakers: MinSpeakersOption = None,
    max_speakers: MaxSpeakersOption = None,
    summarizer: Annotated[
        Literal["extractive", "llm", "local"] | None,
        typer.Option(
            "--summarizer",
            help="extractive (embedded), llm (a server: VIDIGEST_LLM_*) or local (an in-process "
            "model: VIDIGEST_LOCAL_LLM_*) [default: VIDIGEST_SUMMARIZER].",
        ),
    ] = None,
) -> None:
    """Transcribe and summarize FILE; write transcript and summary files."""
    from vidigest.app import Vidigest
    from vidigest.console import RichProgress
    from vidigest.export import write_outputs

    settings = _settings()
    if summarizer is not None:
        settings = settings.model_copy(update={"summarizer": summarizer})
    choice = _speaker_choice(speakers, min_speakers, max_speakers)
    _check_audio_track(file, audio_track)
    with RichProgress(err) as bars:
        vidigest = Vidigest.open(settings, live_progress=lambda _video_id: bars)
        try:
            video = vidigest.register_path(
                file,
                language=_language(language),
                model=model,
                audio_track=audio_track,
                speakers=choice,
                min_speakers=min_speakers,
                max_speakers=max_speakers,
                task=task,
            )
            vidigest.embedded_runtime().run_until_idle()
            result = write_outputs(
                vidigest.database.session_factory,
                video.id,
                out_dir or Path(f"{file.stem}-vidigest"),
            )
        finally:
            vidigest.close()
    if result.status is not VideoStatus.COMPLETED:
        raise VidigestError(result.error or f"processing ended {result.status.value}")
    out.print(Markdown(result.summary_markdown))
    out.print(f"\nvideo {video.id}: {result.status.value}")
    for written in result.files:
        out.print(f"  {written}")


@app.command()
def transcribe(
    file: Annotated[Path, typer.Argument(help="A video or audio file.")],
    fmt: Annotated[TranscriptFormat, typer.Option("--format", help="Output format.")] = "txt",
    model: ModelOption = None,
    language: LanguageOption = "auto",
    task: TaskOption = "transcribe",
    audio_track: AudioTrackOption = 0,
    speakers: SpeakersOption = None,
    min_speakers: MinSpeakersOption = None,
    max_speakers: MaxSpeakersOption = None,
) -> None:
    """Print the transcript of FILE to stdout (nothing is stored)."""
    from vidigest.app import ModelCache
    from vidigest.common.speakers import speaker_hints
    from vidigest.console import RichProgress
    from vidigest.media.probe import probe_media
    from vidigest.modules.speakers.pipeline import diarize_file, with_speakers
    from vidigest.modules.transcription.formats import render

    settings = _settings()
    choice = _speaker_choice(speakers, min_speakers, max_speakers)
    hints = speaker_hints(choice or settings.speakers, min_speakers, max_speakers)
    info = probe_media(file)  # a bad file fails here, before the model loads
    _check_audio_track(file, audio_track)
    models = ModelCache(settings)
    diarizer_for = models.diarizer_for() if hints.enabled else None
    if hints.enabled and diarizer_for is None and choice not in (None, "off"):
        err.print("vidigest: this build has no speaker diarization; --speakers is ignored")
    with RichProgress(err) as bars:
        transcript = models.transcriber(model).transcribe(
            file,
            language=_language(language),
            progress=bars,
            stream_index=audio_track,
            task=task,
        )
        if diarizer_for is not None and transcript.segments:
            found = diarize_file(
                diarizer_for(),
                file,
                hints,
                stream_index=audio_track,
                max_seconds=settings.max_media_seconds,
                expected_seconds=info.duration,
                progress=bars,
            )
            transcript = with_speakers(transcript, found)
    sys.stdout.write(render(transcript, fmt))
    sys.stdout.flush()


@videos_app.command("list")
def videos_list(
    status: Annotated[VideoStatus | None, typer.Option(help="Only videos in this status.")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
    sort: Annotated[str, typer.Option(help="Column and direction.")] = "created_at DESC",
) -> None:
    """List registered videos."""
    from vidigest.database.repository import GenericRepository
    from vidigest.modules.videos.models import Video

    _, database = _open()
    with database.session() as session:
        filters = {"status": status.value} if status else None
        videos = GenericRepository(session, Video).find_all(filters, order_by=sort, limit=limit)
    table = Table("id", "file", "status", "duration", "registered")
    for v in videos:
        duration = f"{v.duration:.1f}s" if v.duration is not None else "-"
        table.add_row(v.id, v.filename, v.status, duration, f"{v.created_at:%Y-%m-%d %H:%M:%S}")
    out.print(table)


@videos_app.command("show")
def videos_show(
    video_id: Annotated[str, typer.Argument(help="The video id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show one video: status, error, status history and summary."""
    from vidigest.export import describe_video

    _, database = _open()
    description = describe_video(database.session_factory, video_id)
    if as_json:
        out.print_json(json.dumps(description, default=str))
        return
    out.print(f"[bold]{description['filename']}[/bold]  {description['id']}")
    out.print(f"status: {description['status']}  progress: {description['progress']}%")
    if description["error"]:
        out.print(f"error: {description['error']}")
    table = Table("when", "from", "to", "reason")
    for entry in description["history"]:
        table.add_row(entry["at"], entry["from"] or "-", entry["to"], entry["reason"] or "")
    out.print(table)
    if description.get("summary"):
        out.print(Markdown(description["summary"]))


@videos_app.command("cancel")
def videos_cancel(video_id: Annotated[str, typer.Argument(help="The video id.")]) -> None:
    """Stop processing a video: it becomes FAILED "cancelled by the user" (then retry or
    delete it). The worker busy with it stops at its next check."""
    from vidigest.database.session import db_session_context
    from vidigest.modules.videos.service import VideoService

    _, database = _open()
    with db_session_context(database.session_factory) as session:
        video = VideoService(session).cancel(video_id)
        out.print(f"{video.id}  {video.status}: {video.error}", markup=False)


@videos_app.command("retry")
def videos_retry(video_id: Annotated[str, typer.Argument(help="The video id.")]) -> None:
    """Queue a FAILED video again, from the start (what it had is cleared)."""
    from vidigest.database.session import db_session_context
    from vidigest.modules.videos.service import VideoService

    _, database = _open()
    with db_session_context(database.session_factory) as session:
        service = VideoService(session)
        current = service.get(video_id)
        if current.awaits_download:
            raise VidigestError(
                f"video {video_id} failed before its download finished: retry it through the "
                f"API (POST /videos/{video_id}/retry), whose server downloads it"
            )
        video = service.retry(video_id)
        out.print(f"{video.id}  {video.status}: the workers take it from here")


@videos_app.command("delete")
def videos_delete(video_id: Annotated[str, typer.Argument(help="The video id.")]) -> None:
    """Delete a COMPLETED or FAILED video: its rows and the media file vidigest stored."""
    from vidigest.database.session import db_session_context
    from vidigest.modules.videos.media_files import purge_one, queue_deletion
    from vidigest.modules.videos.service import VideoService
    from vidigest.storage import open_store

    settings, database = _open()
    store = open_store(settings)
    with db_session_context(database.session_factory) as session:
        video = VideoService(session).delete(video_id)
        queued = queue_deletion(session, store, video.media_path)
    if queued is not None and not purge_one(database.session_factory, store, queued.id):
        out.print("the media file stays queued for deletion (the store did not answer)")
    out.print(f"deleted {video_id}")


@speakers_app.command("list")
def speakers_list(video_id: Annotated[str, typer.Argument(help="The video id.")]) -> None:
    """List the speakers of a video: label, name, talk time."""
    from vidigest.database.session import db_session_context
    from vidigest.modules.speakers.service import SpeakerService

    _, database = _open()
    with db_session_context(database.session_factory) as session:
        speakers = SpeakerService(session).of_video(video_id)
    if not speakers:
        out.print(f"video {video_id} has no speakers (not diarized)")
        return
    table = Table("label", "name", "talk time", "voice")
    for s in speakers:
        voice = "yes" if s.has_voice else "-"
        table.add_row(s.label, s.name or f"({s.display_name})", f"{s.talk_time:.1f}s", voice)
    out.print(table)


@speakers_app.command("rename")
def speakers_rename(
    video_id: Annotated[str, typer.Argument(help="The video id.")],
    label: Annotated[str, typer.Argument(help="The speaker's label, e.g. SPEAKER_1.")],
    name: Annotated[str, typer.Argument(help='The name; "" gives back "Speaker N".')],
) -> None:
    """Name a speaker of a video; every export and search result shows the name."""
    from vidigest.database.session import db_session_context
    from vidigest.modules.speakers.service import SpeakerService

    _, database = _open()
    try:
        with db_session_context(database.session_factory) as session:
            info = SpeakerService(session).rename(video_id, label, name if name.strip() else None)
    except ValueError as exc:
        raise VidigestError(str(exc)) from exc
    out.print(f"{info.label}: {info.display_name}")


@voices_app.command("list")
def voices_list() -> None:
    """List the voice profiles (names; embeddings are never shown)."""
    from vidigest.database.session import db_session_context
    from vidigest.modules.speakers.service import VoiceProfileService

    _, database = _open()
    with db_session_context(database.session_factory) as session:
        voices = VoiceProfileService(session).all()
    table = Table("id", "name", "from video", "speaker", "saved")
    for v in voices:
        table.add_row(
            v.id,
            v.name,
            v.source_video_id or "-",
            v.source_speaker or "-",
            f"{v.created_at:%Y-%m-%d %H:%M:%S}",
        )
    out.print(table)


@voices_app.command("save")
def voices_save(
    video_id: Annotated[str, typer.Argument(help="The video id.")],
    label: Annotated[str, typer.Argument(help="The speaker's label, e.g. SPEAKER_1.")],
    name: Annotated[str, typer.Argument(help="The name later videos show for this voice.")],
) -> None:
    """Save a speaker's voice (its embedding, never audio) under NAME."""
    from vidigest.database.session import db_session_context
    from vidigest.modules.speakers.service import VoiceProfileService

    _, database = _open()
    try:
        with db_session_context(database.session_factory) as session:
            voice = VoiceProfileService(session).save(video_id, label, name)
    except ValueError as exc:
        raise VidigestError(str(exc)) from exc
    out.print(f"{voice.id}  {voice.name}")


@voices_app.command("delete")
def voices_delete(voice_id: Annotated[str, typer.Argument(help="The voice profile's id.")]) -> None:
    """Delete a voice profile (names it gave to earlier videos stay)."""
    from vidigest.database.session import db_session_context
    from vidigest.modules.speakers.service import VoiceProfileService

    _, database = _open()
    with db_session_context(database.session_factory) as session:
        VoiceProfileService(session).delete(voice_id)
    out.print(f"deleted {voice_id}")


def _resummarize(settings: Settings) -> None:
    """Embedded: run the summary of the corrected transcript now (distributed: the workers)."""
    from vidigest.app import Vidigest

    if not settings.embedded:
        out.print("the summary workers summarise it again")
        return
    vidigest = Vidigest.open(settings)
    try:
        vidigest.embedded_runtime().run_until_idle()
    finally:
        vidigest.close()
    out.print("summary updated")


def _open() -> tuple[Settings, Database]:
    """The settings and their database (embedded: migrated first, as `serve` would)."""
    from vidigest.app import open_database

    settings = _settings()
    return settings, open_database(settings, migrate=settings.embedded)


@transcript_app.command("show")
def transcript_show(video_id: Annotated[str, typer.Argument(help="The video id.")]) -> None:
    """List the segments: index, version, start, speaker, text (an edit names index)."""
    from vidigest.database.session import db_session_context
    from vidigest.modules.transcription.editing import TranscriptEditService

    _, database = _open()
    with db_session_context(database.session_factory) as session:
        revision, segments = TranscriptEditService(session).segments(video_id)
    table = Table("#", "version", "start", "speaker", "text", title=f"revision {revision}")
    for s in segments:
        version = f"{s.version}*" if s.edited else str(s.version)
        table.add_row(str(s.index), version, f"{s.start:.1f}", s.speaker or "-", s.text.strip())
    out.print(table)


@transcript_app.command("edit")
def transcript_edit(
    video_id: Annotated[str, typer.Argument(help="The video id.")],
    segment: Annotated[int, typer.Argument(min=0, help="The segment's index (transcript show).")],
    text: Annotated[str | None, typer.Argument(help="The corrected text.")] = None,
    speaker: Annotated[
        str | None, typer.Option("--speaker", help="A speaker label, e.g. SPEAKER_2.")
    ] = None,
    version: Annotated[
        int | None,
        typer.Option(
            "--version", min=1, help="Refuse if the segment is not at this version any more."
        ),
    ] = None,
) -> None:
    """Correct a segment's text (and/or speaker); the summary is made again."""
    from vidigest.database.session import db_session_context
    from vidigest.modules.transcription.editing import TranscriptEditService

    if text is None and speaker is None:
        raise VidigestError("give the corrected text, --speaker, or both")
    settings, database = _open()
    with db_session_context(database.session_factory) as session:
        edits = TranscriptEditService(session)
        if version is None:
            _, segments = edits.segments(video_id)
            seen = next((s.version for s in segments if s.index == segment), 1)
        else:
            seen = version
        after, revision = edits.edit_segment(
            video_id, segment, version=seen, text=text, speaker=speaker
        )
    out.print(f"segment {after.index} is at version {after.version} (revision {revision})")
    if after.version != seen:
        _resummarize(settings)


@transcript_app.command("replace")
def transcript_replace(
    video_id: Annotated[str, typer.Argument(help="The video id.")],
    find: Annotated[str, typer.Argument(help="Text to find (literal, not a pattern).")],
    replacement: Annotated[str, typer.Argument(help="What replaces it.")],
    match_case: Annotated[bool, typer.Option("--match-case", help="Case matters.")] = False,
    whole_word: Annotated[bool, typer.Option("--whole-word", help="Whole words only.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change, change nothing.")
    ] = False,
) -> None:
    """Find and replace across a transcript; the summary is made again."""
    from vidigest.database.session import db_session_context
    from vidigest.modules.transcription.editing import TranscriptEditService

    settings, database = _open()
    with db_session_context(database.session_factory) as session:
        result = TranscriptEditService(session).replace(
            video_id,
            find,
            replacement,
            match_case=match_case,
            whole_word=whole_word,
            apply=not dry_run,
        )
    for change in result.changes:
        out.print(f"{change.index}: {change.before.strip()}\n -> {change.after}", markup=False)
    verb = "would change" if dry_run else "changed"
    out.print(f"{result.count} occurrence(s) in {result.segments} segment(s) {verb}")
    if result.applied:
        _resummarize(settings)


@transcript_app.command("history")
def transcript_history(
    video_id: Annotated[str, typer.Argument(help="The video id.")],
    segment: Annotated[int, typer.Argument(min=0, help="The segment's index.")],
) -> None:
    """Every version of a segment, the recognised text first."""
    from vidigest.database.session import db_session_context
    from vidigest.modules.transcription.editing import TranscriptEditService

    _, database = _open()
    with db_session_context(database.session_factory) as session:
        versions = TranscriptEditService(session).history(video_id, segment)
    table = Table("version", "source", "at", "speaker", "text")
    for v in versions:
        at = v.created_at.isoformat(timespec="seconds") if v.created_at else "-"
        table.add_row(str(v.version), v.source, at, v.speaker or "-", v.text.strip())
    out.print(table)


@transcript_app.command("export")
def transcript_export(
    video_id: Annotated[str, typer.Argument(help="The video id.")],
    output: Annotated[Path, typer.Argument(help="The file to write (.docx or .pdf).")],
) -> None:
    """Write the transcript as DOCX or PDF (by the file's suffix), corrections included."""
    from vidigest.database.session import db_session_context
    from vidigest.modules.transcription.documents import document
    from vidigest.modules.transcription.service import TranscriptService
    from vidigest.modules.videos.service import VideoService

    suffix = output.suffix.lower()
    if suffix not in (".docx", ".pdf"):
        raise VidigestError("the output file must end in .docx or .pdf")
    _, database = _open()
    with db_session_context(database.session_factory) as session:
        title = VideoService(session).get(video_id).filename
        transcript = TranscriptService(session).load(video_id)
    output.write_bytes(document(transcript, "docx" if suffix == ".docx" else "pdf", title))
    out.print(str(output))


def _print_endpoint(endpoint: Any, *, secret: bool = False) -> None:
    state = "enabled" if endpoint.enabled else "disabled"
    out.print(f"{endpoint.id}  {endpoint.url}  {','.join(endpoint.events)}  {state}")
    if secret:
        out.print(f"secret: {endpoint.secret}")


@webhooks_app.command("add")
def webhooks_add(
    url: Annotated[str, typer.Argument(help="The receiver's http(s) URL.")],
    event: Annotated[
        list[str] | None,
        typer.Option(
            "--event",
            help="video.completed, video.failed or video.progress; repeat for several "
            "[default: video.completed and video.failed].",
        ),
    ] = None,
    description: Annotated[str | None, typer.Option(help="A note for people.")] = None,
) -> None:
    """Register an endpoint; prints its id and signing secret (whsec_...)."""
    from vidigest.common.constants import WebhookEventType
    from vidigest.database.session import db_session_context
    from vidigest.modules.webhooks.egress import check_receiver
    from vidigest.modules.webhooks.service import DEFAULT_EVENTS, WebhookService

    settings, database = _open()
    check_receiver(url, settings.webhook_network_list)
    known = [e.value for e in WebhookEventType]
    unknown = [e for e in event or () if e not in known]
    if unknown:
        raise VidigestError(f"unknown event {unknown[0]!r}; expected one of {', '.join(known)}")
    events = [WebhookEventType(e) for e in event] if event else list(DEFAULT_EVENTS)
    with db_session_context(database.session_factory) as session:
        endpoint = WebhookService(session).create_endpoint(url, events, description=description)
        _print_endpoint(endpoint, secret=True)


@webhooks_app.command("list")
def webhooks_list() -> None:
    """List the endpoints (secrets are not shown)."""
    from vidigest.database.session import db_session_context
    from vidigest.modules.webhooks.service import WebhookService

    _, database = _open()
    with db_session_context(database.session_factory) as session:
        table = Table("id", "url", "events", "enabled", "created")
        for e in WebhookService(session).endpoints():
            created = f"{e.created_at:%Y-%m-%d %H:%M:%S}"
            table.add_row(e.id, e.url, ",".join(e.events), str(e.enabled).lower(), created)
    out.print(table)


@webhooks_app.command("disable")
def webhooks_disable(endpoint_id: Annotated[str, typer.Argument(help="The endpoint id.")]) -> None:
    """Send an endpoint nothing (its deliveries wait until it is enabled)."""
    _webhook_change(endpoint_id, "disable")


@webhooks_app.command("enable")
def webhooks_enable(endpoint_id: Annotated[str, typer.Argument(help="The endpoint id.")]) -> None:
    """Send to an endpoint again."""
    _webhook_change(endpoint_id, "enable")


@webhooks_app.command("rotate-secret")
def webhooks_rotate(
    endpoint_id: Annotated[str, typer.Argument(help="The endpoint id.")],
    keep_previous_hours: Annotated[
        float, typer.Option(min=0, max=720, help="Hours the old secret signs too.")
    ] = 24.0,
) -> None:
    """Give an endpoint a new signing secret (used from the next attempt on); prints it."""
    _webhook_change(endpoint_id, "rotate-secret", keep_previous_hours)


def _webhook_change(endpoint_id: str, action: str, keep_previous_hours: float = 0.0) -> None:
    from vidigest.database.session import db_session_context
    from vidigest.modules.webhooks.service import WebhookService

    _, database = _open()
    with db_session_context(database.session_factory) as session:
        service = WebhookService(session)
        if action == "rotate-secret":
            endpoint = service.rotate_secret(endpoint_id, keep_previous_hours)
            _print_endpoint(endpoint, secret=True)
        else:
            _print_endpoint(service.set_enabled(endpoint_id, action == "enable"))


@webhooks_app.command("deliveries")
def webhooks_deliveries(
    endpoint_id: Annotated[str, typer.Argument(help="The endpoint id.")],
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
) -> None:
    """An endpoint's deliveries, newest first: status, attempts, last answer."""
    from vidigest.database.session import db_session_context
    from vidigest.modules.webhooks.service import WebhookService

    _, database = _open()
    with db_session_context(database.session_factory) as session:
        table = Table("webhook-id", "event", "video", "status", "attempts", "last answer")
        for d in WebhookService(session).deliveries(endpoint_id, limit=limit):
            answer = d.last_error or (str(d.last_status_code) if d.last_status_code else "-")
            table.add_row(d.id, d.event_type, d.video_id or "-", d.status, str(d.attempts), answer)
    out.print(table)


@app.command("schemas")
def schemas(
    directory: Annotated[Path, typer.Argument(help="Where to write them.", file_okay=False)] = Path(
        "docs/events"
    ),
) -> None:
    """Write the JSON Schema of every event and webhook payload (one file per version)."""
    from vidigest.common.contracts import all_schemas

    directory.mkdir(parents=True, exist_ok=True)
    for name, text in all_schemas().items():
        (directory / name).write_text(text, encoding="utf-8")
        out.print(str(directory / name))


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the database migrations (PostgreSQL or SQLite)."""
    from vidigest.app import open_database
    from vidigest.database.migrate import current_revision
    from vidigest.modules.search.vector_index import ensure_vector_index

    database = open_database(_settings(), migrate=True)
    out.print(f"database at revision {current_revision(database.engine)}")
    with database.engine.begin() as connection:
        status = ensure_vector_index(connection)  # a server that gained pgvector since
    out.print(status.message)


SearchMode = Literal["hybrid", "semantic", "keyword"]


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to find: words or a description.")],
    mode: Annotated[SearchMode, typer.Option(help="hybrid | semantic | keyword")] = "hybrid",
    video: Annotated[
        list[str] | None, typer.Option("--video", help="Only this video (repeatable).")
    ] = None,
    language: Annotated[str | None, typer.Option(help="Only transcripts in this language.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 10,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Find the moments of every transcript that match QUERY, by words and by meaning."""
    from vidigest.app import Vidigest
    from vidigest.modules.search.ask import clock
    from vidigest.modules.search.service import search_passages
    from vidigest.modules.search.vectors import SearchFilters

    vidigest = Vidigest.open(_settings())
    try:
        with vidigest.database.session() as session:
            page = search_passages(
                session,
                query,
                encoder=vidigest.models.encoder(),
                mode=mode,
                filters=SearchFilters(video_ids=tuple(video or ()), language=language),
                limit=limit,
                offset=offset,
            )
    finally:
        vidigest.close()
    if as_json:
        hits = [
            {
                "video_id": h.video_id,
                "filename": h.filename,
                "start": h.start,
                "end": h.end,
                "text": h.text,
                "score": h.score,
            }
            for h in page.hits
        ]
        print(json.dumps({"query": query, "mode": mode, "notice": page.notice, "results": hits}))
        return
    if page.notice:
        err.print(page.notice)
    if not page.hits:
        out.print("Nothing found.")
        return
    table = Table("file", "at", "passage", "video id")
    for h in page.hits:
        table.add_row(escape(h.filename), clock(h.start), escape(h.text), h.video_id)
    out.print(table)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="A question about your videos.")],
    video: Annotated[
        list[str] | None, typer.Option("--video", help="Only this video (repeatable).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Answer QUESTION from the transcripts: quoted sentences (or, with VIDIGEST_LLM_MODEL set,
    an answer written by the model), each cited with its video and time."""
    from vidigest.app import Vidigest
    from vidigest.modules.search.ask import ask as ask_library
    from vidigest.modules.search.ask import clock
    from vidigest.modules.search.vectors import SearchFilters

    vidigest = Vidigest.open(_settings())
    try:
        with vidigest.database.session() as session:
            answer = ask_library(
                session,
                question,
                encoder=vidigest.models.encoder(),
                chat=vidigest.models.chat(),
                filters=SearchFilters(video_ids=tuple(video or ())),
            )
    finally:
        vidigest.close()
    if as_json:
        print(
            json.dumps(
                {
                    "question": question,
                    "method": answer.method,
                    "answer": answer.text,
                    "fallback_reason": answer.fallback_reason,
                    "citations": [
                        {"video_id": c.video_id, "filename": c.filename, "at": c.at}
                        for c in answer.citations
                    ],
                }
            )
        )
        return
    if answer.fallback_reason:
        err.print(f"extractive answer: {answer.fallback_reason}")
    if not answer.text:
        out.print("Nothing in your videos answers that.")
        return
    if answer.method == "llm":
        out.print(answer.text, markup=False)
        return
    for q in answer.quotes:
        line = f"\u201c{q.text}\u201d  [{q.filename}, {clock(q.start)}]  {q.video_id}"
        out.print(line, markup=False)


@storage_app.command("check")
def storage_check(
    purge: Annotated[
        bool, typer.Option("--purge", help="First delete the files queued for deletion.")
    ] = False,
) -> None:
    """List stored files no video points at and videos whose file is gone (exit 1 if any).

    A file being uploaded right now has no video yet: run this when no upload is in flight."""
    from vidigest.app import Vidigest
    from vidigest.modules.videos.media_files import check_storage
    from vidigest.modules.videos.media_files import purge as purge_deletions

    vidigest = Vidigest.open(_settings())
    try:
        factory = vidigest.database.session_factory
        if purge:
            out.print(f"deleted {purge_deletions(factory, vidigest.store)} queued file(s)")
        report = check_storage(factory, vidigest.store)
    finally:
        vidigest.close()
    out.print(
        f"{vidigest.store.kind} store: {report.objects} file(s), "
        f"{report.pending_deletions} queued for deletion"
    )
    for ref in report.orphan_objects:
        out.print(f"orphan file (no video): {ref}")
    for video_id in report.missing_media:
        out.print(f"video without its file: {video_id}")
    if not report.clean:
        raise typer.Exit(1)
    out.print("no orphans")


@app.command()
def submit(
    file: Annotated[Path, typer.Argument(help="A video or audio file.")],
    model: ModelOption = None,
    language: LanguageOption = "auto",
    task: TaskOption = "transcribe",
    audio_track: AudioTrackOption = 0,
    speakers: SpeakersOption = None,
    min_speakers: MinSpeakersOption = None,
    max_speakers: MaxSpeakersOption = None,
) -> None:
    """Register FILE for the workers: copy it to the shared storage and print its id."""
    from vidigest.app import Vidigest
    from vidigest.media.probe import probe_media

    choice = _speaker_choice(speakers, min_speakers, max_speakers)
    probe_media(file)  # refuse what no worker could decode, before copying it
    _check_audio_track(file, audio_track)
    vidigest = Vidigest.open(_settings())
    try:
        video = vidigest.register_upload(
            file,
            language=_language(language),
            model=model,
            audio_track=audio_track,
            speakers=choice,
            min_speakers=min_speakers,
            max_speakers=max_speakers,
            task=task,
        )
    finally:
        vidigest.close()
    out.print(video.id)


# A stage's name (`common/stages.py`) or the relay: `workers.PROCESSES`, checked by a test.
WorkerName = Literal["transcription", "indexing", "summary", "relay", "webhooks"]
MetricsPort = Annotated[
    int | None, typer.Option("--metrics-port", help="Serve Prometheus metrics on this port.")
]


@app.command()
def worker(
    name: Annotated[
        WorkerName, typer.Argument(help="transcription | summary | indexing | relay | webhooks")
    ],
    metrics_port: MetricsPort = None,
) -> None:
    """Run the worker of one stage, the outbox relay, or the webhook fan-out and dispatcher,
    against Kafka and the shared database."""
    from vidigest.workers import run_relay, run_webhooks, run_worker, stop_on_signals

    stop = stop_on_signals()
    if name == "relay":
        run_relay(_settings(), stop, metrics_port)
    elif name == "webhooks":
        run_webhooks(_settings(), stop, metrics_port)
    else:
        run_worker(_settings(), name, stop, metrics_port)


@app.command("run-all")
def run_all(
    transcription: Annotated[int, typer.Option(min=0, help="Transcription workers.")] = 1,
    summary: Annotated[int, typer.Option(min=0, help="Summary workers.")] = 1,
    indexing: Annotated[int, typer.Option(min=0, help="Search indexing workers.")] = 1,
    relay: Annotated[int, typer.Option(min=0, help="Outbox relays.")] = 1,
    webhooks: Annotated[int, typer.Option(min=0, help="Webhook dispatchers.")] = 1,
    metrics_port: Annotated[
        int | None, typer.Option(help="First metrics port; each child gets the next one.")
    ] = None,
    grace: Annotated[float, typer.Option(help="Seconds a child gets to stop.")] = 30.0,
) -> None:
    """Run each stage's workers and the relay as child processes; restart any that dies."""
    from vidigest.workers import Supervisor, run_all_children, stop_on_signals

    settings = _settings()
    if settings.embedded:
        raise VidigestError("run-all needs VIDIGEST_KAFKA_BOOTSTRAP and VIDIGEST_DATABASE_URL")
    counts = {
        "transcription": transcription,
        "summary": summary,
        "indexing": indexing,
        "relay": relay,
        "webhooks": webhooks,
    }
    stop = stop_on_signals()
    Supervisor(run_all_children(counts, metrics_port), grace_seconds=grace).run(stop)


@topics_app.command("create")
def topics_create() -> None:
    """Create the Kafka topics (idempotent); partitions and replication from settings."""
    from vidigest.common.constants import DEAD_LETTER_TOPIC, EventType
    from vidigest.providers.kafka.admin import create_topics

    settings = _settings()
    if settings.embedded:
        raise VidigestError("set VIDIGEST_KAFKA_BOOTSTRAP to create topics")
    names = [settings.topic(t) for t in (*(e.topic for e in EventType), DEAD_LETTER_TOPIC)]
    created = create_topics(settings, names)
    for name in names:
        out.print(f"{name}: {'created' if name in created else 'exists'}")


@app.command()
def health() -> None:
    """Check the database, (in distributed mode) the Kafka broker and (when set) the bucket;
    exit 1 if one fails."""
    from vidigest.app import open_database
    from vidigest.modules.health.service import readiness
    from vidigest.storage import open_store

    settings = _settings()
    report = readiness(settings, open_database(settings, migrate=False), open_store(settings))
    out.print_json(json.dumps(report.as_dict()))
    if not report.ok:
        raise typer.Exit(1)


def is_loopback(host: str) -> bool:
    """True only for addresses no other machine can reach (a name other than localhost is not
    resolved: it might name a public interface, so it counts as open)."""
    import ipaddress

    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _refuse_open_serving(settings: Settings, host: str) -> None:
    """Fail closed: without API keys, anyone who reaches a non-loopback address can read,
    upload and delete everything."""
    if settings.api_key_list or settings.allow_unauthenticated or is_loopback(host):
        return
    raise VidigestError(
        f"refusing to serve on {host} without API keys: anyone who reaches it could read, "
        "upload and delete videos. Set VIDIGEST_API_KEYS, serve on 127.0.0.1, or set "
        "VIDIGEST_ALLOW_UNAUTHENTICATED=true if something in front of it authenticates"
    )


# what each of `serve --workers N`'s processes imports to build its app (settings from the env)
SERVE_FACTORY = "vidigest.http.main:create_app_from_env"


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on [default: 127.0.0.1].")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port [default: 8000].")] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="HTTP worker processes (distributed mode only).")
    ] = 1,
) -> None:
    """Serve the HTTP API and web UI; in embedded mode also run the workers in this process."""
    import uvicorn

    settings = _settings()
    host = host or settings.api_host
    port = settings.api_port if port is None else port
    _refuse_open_serving(settings, host)
    # the bind address is one of the Host names answered (VIDIGEST_ALLOWED_HOSTS adds more)
    settings = settings.model_copy(update={"api_host": host, "api_port": port})
    level = "info" if logging.getLogger().level <= logging.INFO else "warning"
    err.print(f"vidigest serving on http://{_url_host(host)}:{port}/ (API docs at /docs)")
    if workers > 1:
        if settings.embedded:
            raise VidigestError("--workers > 1 needs distributed mode (PostgreSQL and Kafka)")
        os.environ["VIDIGEST_API_HOST"] = host  # the worker processes read their settings here
        uvicorn.run(
            SERVE_FACTORY,
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=level,
        )
        return
    from vidigest.http.main import create_app

    uvicorn.run(create_app(settings), host=host, port=port, log_level=level)


def _settings_problems(exc: ValidationError) -> str:
    """One line per bad setting, named as the environment variable (never its value)."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        name = "VIDIGEST_" + "_".join(str(p) for p in error["loc"]).upper()
        message = str(error["msg"]).removeprefix("Value error, ")
        problems.append(message if message.startswith(name) else f"{name}: {message}")
    return "; ".join(problems)


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # models come from installed packages only
    try:
        code = app(prog_name="vidigest", standalone_mode=False)
    except TyperException as exc:  # usage errors (typer vendors click's exception classes)
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
            print(ctx.get_help())
            sys.exit(0)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        print(f"vidigest: error: {message}{hint}", file=sys.stderr)
        sys.exit(int(getattr(exc, "exit_code", 2)))
    except (typer.Abort, KeyboardInterrupt):
        print("vidigest: aborted", file=sys.stderr)
        sys.exit(130)
    except VidigestError as exc:
        print(f"vidigest: error: {exc}", file=sys.stderr)
        sys.exit(1)
    except ValidationError as exc:  # settings from the environment, checked at start
        print(f"vidigest: error: invalid settings: {_settings_problems(exc)}", file=sys.stderr)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)
