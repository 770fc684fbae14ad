"""The composition root: settings -> database, model cache, steps, handlers, transports.

Both ways to run (embedded and distributed) are assembled here from the same parts. This is
the one level that knows every feature: it builds each stage's step (`STEP_FACTORIES`) and
injects the videos' failure recorder into the message handler.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from sqlalchemy.orm import Session

from vidigest.common.constants import WebhookEventType
from vidigest.common.exceptions import ConfigurationError, MediaNotFoundError
from vidigest.common.stages import INDEXING, STAGES, SUMMARY, TRANSCRIPTION, Stage, stage_named
from vidigest.common.types import Event, ProgressReporter, Task
from vidigest.config import Settings
from vidigest.database.migrate import upgrade
from vidigest.database.session import Database, db_session_context
from vidigest.embedding.encoder import SentenceEncoder
from vidigest.messaging.dead_letters import DeadLetterTable
from vidigest.messaging.delivery import Backoff, DeliveryPolicy
from vidigest.messaging.embedded import EmbeddedBroker, EmbeddedRuntime
from vidigest.messaging.handler import MessageHandler, Step
from vidigest.messaging.inbox import ProcessedMessageService
from vidigest.messaging.outbox import OutboxService
from vidigest.messaging.relay import OutboxRelay
from vidigest.modules.search.step import IndexingStep
from vidigest.modules.speakers.pipeline import Diarizer
from vidigest.modules.speakers.service import ProfileMatcher
from vidigest.modules.summary.chat import ChatBackend
from vidigest.modules.summary.step import Summarizer, SummaryStep
from vidigest.modules.transcription.step import Transcriber, TranscriptionStep
from vidigest.modules.videos.downloads import DownloadPool
from vidigest.modules.videos.media_files import DeletionSweeper
from vidigest.modules.videos.models import Video
from vidigest.modules.videos.progress import FanOutProgress, ProgressEvents, StoredProgress
from vidigest.modules.videos.service import VideoService, fail_video
from vidigest.modules.webhooks.dispatcher import Dispatcher
from vidigest.modules.webhooks.egress import check_receiver
from vidigest.modules.webhooks.fanout import CONSUMED, CONSUMER, WebhookFanOut
from vidigest.modules.webhooks.service import DEFAULT_EVENTS, WebhookService
from vidigest.storage import MediaStore, open_store


class Registration(TypedDict):
    """What a caller chooses when registering a file (`VideoService.register`'s options)."""

    language: str | None
    model: str | None
    audio_track: int
    speakers: str | None  # "auto", "off", a count; None: VIDIGEST_SPEAKERS
    min_speakers: int | None
    max_speakers: int | None
    task: Task  # transcribe, or translate into English


LiveProgress = Callable[[str], ProgressReporter]  # video id -> reporter (e.g. a terminal bar)


def open_database(settings: Settings, *, migrate: bool) -> Database:
    if settings.resolved_database_url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    database = Database(settings.resolved_database_url)
    if migrate:
        upgrade(database.engine)
    return database


@dataclass
class ModelCache:
    """The ML models (speech recognition, summarizers), each loaded once per process on first
    use. (Not the tables: those are the features' `models.py`.)"""

    settings: Settings
    _transcribers: dict[str, Transcriber] = field(default_factory=dict)
    _summarizers: dict[str, Summarizer] = field(default_factory=dict)
    _diarizer: Diarizer | None = None
    _encoder: SentenceEncoder | None = None
    _chat: ChatBackend | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def transcriber(self, spec: str | None = None) -> Transcriber:
        from vidigest.modules.transcription.asr import WhisperTranscriber

        spec = spec or self.settings.asr_model
        with self._lock:
            if spec not in self._transcribers:
                self._transcribers[spec] = WhisperTranscriber.from_settings(self.settings, spec)
            return self._transcribers[spec]

    def diarizer_for(self) -> Callable[[], Diarizer] | None:
        """What builds the speaker diarizer (CAM++ loaded once per process, on first use)."""
        return self.diarizer

    def diarizer(self) -> Diarizer:
        from vidigest.modules.speakers.diarize import Diarizer as CamPlusDiarizer

        with self._lock:
            if self._diarizer is None:
                # VIDIGEST_ASR_THREADS bounds the embedding batches run at once too (0: one per
                # core, as for speech recognition)
                self._diarizer = CamPlusDiarizer(threads=self.settings.asr_threads or None)
            return self._diarizer

    def encoder(self) -> SentenceEncoder:
        """The sentence encoder (MiniLM, loaded on first use), shared by the extractive
        summarizer, the indexing step, search and ask."""
        with self._lock:
            return self._shared_encoder()

    def _shared_encoder(self) -> SentenceEncoder:
        """`encoder()` for a caller already holding the lock."""
        if self._encoder is None:
            self._encoder = SentenceEncoder()
        return self._encoder

    def chat(self) -> ChatBackend | None:
        """What writes answers to questions: the OpenAI-compatible server of `VIDIGEST_LLM_*`
        when a model is named (`VIDIGEST_LLM_MODEL`), else None (answers are extractive)."""
        if not self.settings.llm_model:
            return None
        from vidigest.modules.summary.chat import OpenAIChat
        from vidigest.modules.summary.llm import config_from_settings

        with self._lock:
            if self._chat is None:
                self._chat = OpenAIChat(config_from_settings(self.settings))
            return self._chat

    def profile_matcher(self) -> ProfileMatcher | None:
        """What names new speakers from the voice profiles (at the measured threshold)."""
        from vidigest.modules.speakers.profiles import match_profiles

        return match_profiles

    def summarizer(self, kind: str | None = None) -> Summarizer:
        """The summarizer `kind` ("extractive", "llm" or "local"; default: the setting)."""
        from vidigest.modules.summary.extractive import ExtractiveSummarizer

        kind = kind or self.settings.summarizer
        with self._lock:
            if kind not in self._summarizers:
                extractive = self._summarizers.get("extractive")
                if not isinstance(extractive, ExtractiveSummarizer):
                    extractive = ExtractiveSummarizer(self._shared_encoder())
                    self._summarizers["extractive"] = extractive
                if kind == "llm":
                    from vidigest.modules.summary.llm import LLMSummarizer, config_from_settings

                    self._summarizers[kind] = LLMSummarizer(
                        config_from_settings(self.settings), extractive
                    )
                elif kind == "local":
                    from vidigest.modules.summary.local import local_summarizer

                    self._summarizers[kind] = local_summarizer(self.settings, extractive)
                elif kind != "extractive":
                    raise ConfigurationError(
                        f"unknown summarizer {kind!r}: extractive, llm or local"
                    )
            return self._summarizers[kind]


@dataclass
class Vidigest:
    settings: Settings
    database: Database
    models: ModelCache
    live_progress: LiveProgress | None = None
    _store: MediaStore | None = None

    @property
    def store(self) -> MediaStore:
        """Where media files live (the local directory, or the bucket of
        VIDIGEST_STORAGE_URL), opened on first use."""
        if self._store is None:
            self._store = open_store(self.settings)
        return self._store

    # wakes the in-process webhook dispatcher when deliveries are owed (`serve`, embedded)
    webhook_wake: Callable[[], None] | None = None

    @classmethod
    def open(cls, settings: Settings, *, live_progress: LiveProgress | None = None) -> Vidigest:
        # The embedded database migrates itself; a shared one is migrated by `db upgrade`.
        database = open_database(settings, migrate=settings.embedded)
        return cls(settings, database, ModelCache(settings), live_progress)

    def progress_for(self, video_id: str, phase: str) -> ProgressReporter:
        reporters: list[ProgressReporter] = [
            StoredProgress(self.database.session_factory, video_id, phase)
        ]
        if self.settings.progress_event_seconds > 0:  # video.progress events (webhooks)
            reporters.append(
                ProgressEvents(
                    self._emit_progress,
                    video_id,
                    phase,
                    self.settings.progress_event_seconds,
                )
            )
        if self.live_progress is not None:
            reporters.append(self.live_progress(video_id))
        return reporters[0] if len(reporters) == 1 else FanOutProgress(reporters)

    def _emit_progress(self, event: Event) -> None:
        """A `video.progress` event, when an endpoint subscribes to it (otherwise none is
        written: a look-up every `VIDIGEST_PROGRESS_EVENT_SECONDS` is all it costs).

        Distributed: through the outbox (the relay publishes it to its topic, `worker
        webhooks` fans it out). Embedded, the one runner thread is busy with the very step
        reporting progress, so the fan-out runs here, in the transaction of the outbox row,
        with the processed mark the relayed copy will then find."""
        owed = []
        with db_session_context(self.database.session_factory) as session:
            webhooks = WebhookService(session)
            if not webhooks.subscribed(WebhookEventType.VIDEO_PROGRESS, event.aggregate_id):
                return
            OutboxService(session).add(event)
            if self.settings.embedded:
                ProcessedMessageService(session).mark_as_processed(
                    CONSUMER, str(event.event_id), skip_check=True
                )
                owed = webhooks.fan_out(event)
        if owed and self.webhook_wake is not None:
            self.webhook_wake()

    def check_callback(self, url: str) -> None:
        """A registration's callback_url passes the webhook address policy (ApiError if not)."""
        check_receiver(url, self.settings.webhook_network_list)

    def add_callback(self, session: Session, video_id: str, url: str) -> str:
        """The video's own webhook endpoint (video.completed, video.failed), in the caller's
        transaction; returns its signing secret."""
        endpoint = WebhookService(session).create_endpoint(url, DEFAULT_EVENTS, video_id=video_id)
        return endpoint.secret

    def webhook_fanout(self, on_deliveries: Callable[[], None] | None = None) -> WebhookFanOut:
        """The consumer that turns events into webhook deliveries (`CONSUMED` topics)."""
        return WebhookFanOut(self.database.session_factory, on_deliveries)

    def webhook_dispatcher(self) -> Dispatcher:
        """The sender of webhook deliveries (a thread of `serve`, or `worker webhooks`)."""
        settings = self.settings
        return Dispatcher(
            self.database.session_factory,
            allowed_networks=settings.webhook_network_list,
            timeout=settings.webhook_timeout_seconds,
            concurrency=settings.webhook_concurrency,
            per_endpoint=settings.webhook_concurrency_per_endpoint,
            max_attempts=settings.webhook_max_attempts,
            backoff=Backoff(settings.webhook_backoff_seconds, settings.webhook_backoff_max_seconds),
            poll_seconds=settings.webhook_poll_seconds,
        )

    def handler(self, stage: Stage | str) -> MessageHandler[Any]:
        """The message handler of one stage (or its name), with its step; ValueError for a
        name that is no stage."""
        stage = stage_named(stage) if isinstance(stage, str) else stage
        step = STEP_FACTORIES[stage](self)
        policy = DeliveryPolicy.from_settings(self.settings)
        return MessageHandler(step, self.database.session_factory, fail_video, policy)

    def register_upload(
        self,
        source: Path,
        *,
        language: str | None = None,
        model: str | None = None,
        audio_track: int = 0,
        speakers: str | None = None,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
        task: Task = "transcribe",
    ) -> Video:
        """Copy `source` into the media store (the local directory or the bucket), then
        register the copy.

        The copy's name fits a directory entry (`storage_name`); the video keeps the file's own
        name, readable even when it is not UTF-8. Nothing is left behind if the copy fails.
        """
        from vidigest.modules.videos.sources import readable, storage_name

        if not source.is_file():
            raise MediaNotFoundError(str(source))
        name = readable(source.name)
        ref = self.store.put_file(source, storage_name(name))
        try:
            uri = readable(str(source.absolute()))
            options = Registration(
                language=language,
                model=model,
                audio_track=audio_track,
                speakers=speakers,
                min_speakers=min_speakers,
                max_speakers=max_speakers,
                task=task,
            )
            return self._register(ref, "upload", uri, name, options)
        except BaseException:
            self.store.delete(ref)
            raise

    def register_path(
        self,
        path: Path,
        *,
        language: str | None = None,
        model: str | None = None,
        audio_track: int = 0,
        speakers: str | None = None,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
        task: Task = "transcribe",
    ) -> Video:
        """Register a file the workers can read where it is.

        The database holds paths as text: a path that is not valid UTF-8 cannot be stored, so
        such a file is registered through a copy in the storage directory instead (as `submit`
        does), under a readable name.
        """
        from vidigest.modules.videos.sources import readable

        path = path.expanduser().absolute()
        options = Registration(
            language=language,
            model=model,
            audio_track=audio_track,
            speakers=speakers,
            min_speakers=min_speakers,
            max_speakers=max_speakers,
            task=task,
        )
        if readable(str(path)) != str(path) or self.store.kind != "local":
            # not storable as text, or workers elsewhere could not read it: a copy in the store
            return self.register_upload(path, **options)
        return self._register(str(path), "path", str(path), None, options)

    def _register(
        self, media: str, source_type: str, uri: str, name: str | None, options: Registration
    ) -> Video:
        """One transaction: the video row and its `video.registered` event."""
        with db_session_context(self.database.session_factory) as session:
            return VideoService(session).register(
                media_path=media,
                source_type=source_type,
                source_uri=uri,
                filename=name or Path(media).name,
                size_bytes=self.store.size(media),
                **options,
            )

    def download_pool(self, on_registered: Callable[[], None] | None = None) -> DownloadPool:
        """The pool that fetches URL registrations (started and stopped by the API)."""
        return DownloadPool(
            self.database.session_factory,
            self.store,
            workers=self.settings.url_download_workers,
            queue_size=self.settings.url_download_queue,
            max_bytes=self.settings.url_max_bytes,
            timeout=self.settings.url_timeout_seconds,
            max_media_seconds=self.settings.max_media_seconds,
            on_registered=on_registered,
        )

    def deletion_sweeper(self) -> DeletionSweeper:
        """What retries the deletions of stored files the store could not do at once."""
        return DeletionSweeper(self.database.session_factory, self.store)

    def embedded_runtime(self) -> EmbeddedRuntime:
        """Relay + broker with every stage's handler and the webhook fan-out subscribed."""
        broker = EmbeddedBroker(
            DeliveryPolicy.from_settings(self.settings),
            dead_letter=DeadLetterTable(self.database.session_factory),
        )
        for stage in STAGES.values():
            handler = self.handler(stage)
            for topic in stage.topics:
                broker.subscribe(self.settings.topic(topic), stage.consumer, handler)
        fanout = self.webhook_fanout(self.webhook_wake)
        for event_type in CONSUMED:
            broker.subscribe(self.settings.topic(event_type.topic), CONSUMER, fanout)
        relay = OutboxRelay(
            self.database.session_factory,
            broker,
            batch_size=self.settings.relay_batch_size,
            max_batch_size=self.settings.relay_max_batch_size,
            topic_prefix=self.settings.topic_prefix,
        )
        return EmbeddedRuntime(relay, broker)

    def close(self) -> None:
        self.database.dispose()


# How each stage's step is built from the app's parts: the one place a stage meets its code
# (what a stage is, its event, topic and consumer name: `common/stages.py`).
STEP_FACTORIES: dict[Stage, Callable[[Vidigest], Step[Any]]] = {
    TRANSCRIPTION: lambda app: TranscriptionStep(
        app.models.transcriber,
        app.progress_for,
        app.database.session_factory,
        diarizer_for=app.models.diarizer_for(),
        match_profiles=app.models.profile_matcher(),
        default_speakers=app.settings.speakers,
        max_media_seconds=app.settings.max_media_seconds,
        store=app.store,
    ),
    SUMMARY: lambda app: SummaryStep(
        app.models.summarizer(), app.progress_for, app.database.session_factory
    ),
    INDEXING: lambda app: IndexingStep(app.models.encoder(), app.database.session_factory),
}
assert set(STEP_FACTORIES) == set(STAGES.values()), "every stage needs its step factory"
