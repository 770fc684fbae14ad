"""The composition root: settings -> database, models, steps, handlers, transports.

Both ways to run (embedded and distributed) are assembled here from the same parts.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidigest.common.constants import Topic
from vidigest.common.exceptions import ConfigurationError, MediaNotFoundError
from vidigest.common.handlers import MessageHandler
from vidigest.common.types import ProgressReporter
from vidigest.config import Settings
from vidigest.database.migrate import upgrade
from vidigest.database.session import Database, db_session_context
from vidigest.messaging.dead_letters import DeadLetterTable
from vidigest.messaging.delivery import DeliveryPolicy
from vidigest.messaging.embedded import EmbeddedBroker, EmbeddedRuntime
from vidigest.messaging.relay import OutboxRelay
from vidigest.modules.summary.service import Summarizer, SummaryStep
from vidigest.modules.transcription.service import Transcriber, TranscriptionStep
from vidigest.modules.videos.downloads import DownloadPool
from vidigest.modules.videos.models import Video
from vidigest.modules.videos.progress import FanOutProgress, StoredProgress
from vidigest.modules.videos.service import VideoService

# Each worker and the topic it consumes.
WORKERS: dict[str, Topic] = {
    "transcription": Topic.VIDEO_REGISTERED,
    "summary": Topic.TRANSCRIPTION_COMPLETED,
}

LiveProgress = Callable[[str], ProgressReporter]  # video id -> reporter (e.g. a terminal bar)


def open_database(settings: Settings, *, migrate: bool) -> Database:
    if settings.resolved_database_url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    database = Database(settings.resolved_database_url)
    if migrate:
        upgrade(database.engine)
    return database


@dataclass
class Models:
    """Loads each model once per process, on first use."""

    settings: Settings
    _transcribers: dict[str, Transcriber] = field(default_factory=dict)
    _summarizers: dict[str, Summarizer] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def transcriber(self, spec: str | None = None) -> Transcriber:
        from vidigest.modules.transcription.asr import WhisperTranscriber

        spec = spec or self.settings.asr_model
        with self._lock:
            if spec not in self._transcribers:
                self._transcribers[spec] = WhisperTranscriber(
                    spec,
                    device=self.settings.asr_device,
                    compute_type=self.settings.asr_compute_type,
                    threads=self.settings.asr_threads,
                    beam_size=self.settings.asr_beam_size,
                    window_seconds=self.settings.asr_window_seconds,
                    settings=self.settings,
                )
            return self._transcribers[spec]

    def summarizer(self, kind: str | None = None) -> Summarizer:
        """The summarizer `kind` ("extractive", "llm" or "local"; default: the setting)."""
        from vidigest.modules.summary.extractive import ExtractiveSummarizer

        kind = kind or self.settings.summarizer
        with self._lock:
            if kind not in self._summarizers:
                extractive = self._summarizers.get("extractive")
                if not isinstance(extractive, ExtractiveSummarizer):
                    extractive = ExtractiveSummarizer()
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
    models: Models
    live_progress: LiveProgress | None = None

    @classmethod
    def open(cls, settings: Settings, *, live_progress: LiveProgress | None = None) -> Vidigest:
        # The embedded database migrates itself; a shared one is migrated by `db upgrade`.
        database = open_database(settings, migrate=settings.embedded)
        return cls(settings, database, Models(settings), live_progress)

    def progress_for(self, video_id: str, stage: str) -> ProgressReporter:
        stored = StoredProgress(self.database.session_factory, video_id, stage)
        if self.live_progress is None:
            return stored
        return FanOutProgress([stored, self.live_progress(video_id)])

    def handler(self, worker: str) -> MessageHandler[Any]:
        """The handler of one worker ("transcription" or "summary"), with its step."""
        sf = self.database.session_factory
        attempts = self.settings.max_attempts
        if worker == "transcription":
            step: Any = TranscriptionStep(self.models.transcriber, self.progress_for, sf)
        elif worker == "summary":
            step = SummaryStep(self.models.summarizer(), self.progress_for, sf)
        else:
            raise ValueError(f"unknown worker {worker!r}; expected one of {', '.join(WORKERS)}")
        return MessageHandler(step, sf, attempts)

    def register_upload(
        self,
        source: Path,
        *,
        language: str | None = None,
        model: str | None = None,
        audio_track: int = 0,
    ) -> Video:
        """Copy `source` into the shared storage directory, then register the copy."""
        from vidigest.modules.videos.sources import new_storage_dir

        if not source.is_file():
            raise MediaNotFoundError(str(source))  # the user's own path, in their terminal
        target = new_storage_dir(self.settings.storage_dir) / source.name
        shutil.copyfile(source, target)
        with db_session_context(self.database.session_factory) as session:
            return VideoService(session).register(
                media_path=target,
                source_type="upload",
                source_uri=str(source.absolute()),
                language=language,
                model=model,
                audio_track=audio_track,
            )

    def register_path(
        self,
        path: Path,
        *,
        language: str | None = None,
        model: str | None = None,
        audio_track: int = 0,
    ) -> Video:
        """Register a file the workers can read where it is."""
        path = path.expanduser().absolute()
        with db_session_context(self.database.session_factory) as session:
            return VideoService(session).register(
                media_path=path,
                source_type="path",
                source_uri=str(path),
                language=language,
                model=model,
                audio_track=audio_track,
            )

    def download_pool(self, on_registered: Callable[[], None] | None = None) -> DownloadPool:
        """The pool that fetches URL registrations (started and stopped by the API)."""
        return DownloadPool(
            self.database.session_factory,
            self.settings.storage_dir,
            workers=self.settings.url_download_workers,
            queue_size=self.settings.url_download_queue,
            max_bytes=self.settings.url_max_bytes,
            timeout=self.settings.url_timeout_seconds,
            on_registered=on_registered,
        )

    def embedded_runtime(self) -> EmbeddedRuntime:
        broker = EmbeddedBroker(
            DeliveryPolicy.from_settings(self.settings),
            dead_letter=DeadLetterTable(self.database.session_factory),
        )
        for worker, topic in WORKERS.items():
            handler = self.handler(worker)
            broker.subscribe(self.settings.topic(topic.value), handler.consumer, handler)
        relay = OutboxRelay(
            self.database.session_factory,
            broker,
            batch_size=self.settings.relay_batch_size,
            topic_prefix=self.settings.topic_prefix,
        )
        return EmbeddedRuntime(relay, broker)

    def close(self) -> None:
        self.database.dispose()
