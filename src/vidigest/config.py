"""Settings, read from the environment (prefix VIDIGEST_) and validated at start."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from vidigest.common.speakers import parse_speakers

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


def _default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "vidigest"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VIDIGEST_", extra="ignore")

    # --- state ---
    data_dir: Path = Field(default_factory=_default_data_dir)
    database_url: str | None = None  # default: SQLite file in data_dir

    # --- media store: unset = the local directory data_dir/media ---
    # s3://bucket/prefix: media in an S3-compatible bucket shared by every process
    storage_url: str | None = None
    storage_endpoint_url: str | None = None  # MinIO, Ceph, R2...; None: AWS
    storage_region: str | None = None  # None: the AWS chain's (AWS_REGION...)
    # static keys; None: the usual AWS chain (environment, shared files, instance role)
    storage_access_key_id: str | None = None
    storage_secret_access_key: SecretStr | None = None
    storage_path_style: bool = False  # bucket in the path (MinIO, most self-hosted stores)
    storage_part_bytes: int = Field(default=8 * 1024 * 1024, ge=5 * 1024 * 1024)
    storage_timeout_seconds: float = Field(default=10.0, gt=0)  # connect / read, per request
    # /media answers 307 to a presigned URL of the bucket instead of relaying the bytes
    storage_presign: bool = False
    storage_presign_seconds: int = Field(default=300, ge=1, le=7 * 24 * 3600)

    # --- transport: unset bootstrap = embedded in-process transport ---
    kafka_bootstrap: str | None = None
    kafka_security_protocol: str | None = None
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = None
    kafka_ssl_ca_location: str | None = None
    topic_prefix: str = ""
    consumer_group: str = "vidigest"
    topic_partitions: int = Field(default=6, ge=1)
    topic_replication: int = Field(default=1, ge=1)
    max_poll_interval_ms: int = Field(default=300_000, ge=1000)
    session_timeout_ms: int = Field(default=45_000, ge=1000)

    # --- failure handling ---
    max_attempts: int = Field(default=4, ge=1)
    retry_backoff_seconds: float = Field(default=1.0, ge=0)
    retry_backoff_max_seconds: float = Field(default=60.0, ge=0)

    # --- speech to text ---
    asr_model: str = "fast"  # fast | accurate | path to a CTranslate2 Whisper directory
    asr_device: Literal["cpu", "cuda", "auto"] = "cpu"
    # CTranslate2 compute type; None (unset): int8 on CPU, float16 on CUDA
    asr_compute_type: str | None = None
    asr_threads: int = Field(default=0, ge=0)  # 0: one per core
    asr_beam_size: int = Field(default=5, ge=1)
    # VAD chunks decoded in one batch within a window (BatchedInferencePipeline); 1: sequential
    asr_batch_size: int = Field(default=16, ge=1)
    # progress reports a short file's batched transcription aims at: its windows are decoded
    # in smaller batches (of 4 chunks at least) to give them (1: whole-window batches)
    asr_progress_steps: int = Field(default=4, ge=1)
    # seconds of audio decoded per window (memory stays flat; long media resume at a window)
    asr_window_seconds: float = Field(default=300.0, ge=4)
    # refine Whisper's word times by forced alignment (hama's phoneme model; English only,
    # other languages keep Whisper's): word boundaries ~3x closer, but RTF +0.08 on 2 cores,
    # more than batched decoding itself takes, so it is asked for, not on by default
    align_words: bool = False
    # CPU kernel family of CTranslate2 + MKL on x86-64, so transcripts match across machines;
    # "auto": the fastest the CPU has (results then differ between CPU generations)
    asr_cpu_isa: Literal["auto", "GENERIC", "AVX", "AVX2", "AVX512"] = "AVX2"
    language: str | None = None  # None or "auto": detect
    # who said what: "auto" (find the number of speakers), "off" (no diarization), or a count;
    # a video registered with its own choice (--speakers, the API's "speakers") uses that
    speakers: str = "auto"

    # --- summary ---
    summarizer: Literal["extractive", "llm", "local"] = "extractive"
    # the "llm" summarizer: any OpenAI-compatible server (vLLM, Ollama, llama.cpp, OpenAI)
    llm_base_url: str | None = None  # e.g. http://127.0.0.1:8080/v1; None: api.openai.com
    llm_model: str = ""
    llm_api_key: SecretStr | None = None  # local servers need none
    llm_timeout_seconds: float = Field(default=120.0, gt=0)  # per request
    llm_max_retries: int = Field(default=2, ge=0)  # per request, with exponential backoff
    llm_context_tokens: int = Field(default=8192, ge=512)  # budget per call, prompt + answer
    llm_max_output_tokens: int = Field(default=1024, ge=1)
    llm_temperature: float = Field(default=0.2, ge=0, le=2)
    # json_schema: OpenAI, vLLM, Ollama, llama-server; json_object: llama-cpp-python's server
    llm_response_format: Literal["json_schema", "json_object", "none"] = "json_schema"
    # the "local" summarizer: a GGUF model run in-process by llama.cpp, no server, no network
    # (pip install 'vidigest[local-llm]'): qwen1.5b | qwen0.5b | the path of a .gguf chat model
    local_llm_model: str = "qwen1.5b"
    local_llm_threads: int = Field(default=0, ge=0)  # 0: one per core
    local_llm_context_tokens: int = Field(default=4096, ge=1024)  # prompt + answer, per call
    local_llm_max_output_tokens: int = Field(default=768, ge=64)
    local_llm_temperature: float = Field(default=0.0, ge=0, le=2)  # 0: greedy, repeatable

    # --- relay ---
    relay_batch_size: int = Field(default=100, ge=1)
    # while a backlog lasts, each full batch doubles the next, up to this (commits amortised)
    relay_max_batch_size: int = Field(default=1000, ge=1)
    relay_poll_seconds: float = Field(default=0.5, gt=0)

    # --- HTTP API (`vidigest serve`) ---
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=0, le=65535)
    api_keys: str = ""  # comma-separated; empty: no authentication
    # serving on a non-loopback address without keys is refused unless this says it is meant
    allow_unauthenticated: bool = False
    # Host header names answered (comma-separated) besides the loopback names and the bind
    # address; "*" answers any Host (turns off the DNS-rebinding guard)
    allowed_hosts: str = ""
    # origins (scheme://host[:port]) besides the API's own that may send POST/PUT/PATCH/DELETE
    allowed_origins: str = ""
    max_upload_bytes: int = Field(default=2 * 1024**3, ge=1)
    # register a file already on the server: off unless roots are listed (comma-separated)
    allow_path_registration: bool = False
    path_roots: str = ""
    # register an http(s) URL: off by default; public addresses only, size and time capped
    allow_url_registration: bool = False
    url_max_bytes: int = Field(default=2 * 1024**3, ge=1)
    url_timeout_seconds: float = Field(default=300.0, gt=0)  # one deadline per download
    # downloads run outside requests: this many at a time, this many more may wait (then 503)
    url_download_workers: int = Field(default=2, ge=1)
    url_download_queue: int = Field(default=16, ge=0)
    # longest media accepted (seconds; 0: no limit): checked on the duration a file declares at
    # registration, and again on the audio the transcription worker decodes
    max_media_seconds: float = Field(default=6 * 3600.0, ge=0)
    # the OpenAI-compatible routes (/v1/audio/...): how long a request waits for its transcript
    # before it answers 504 naming the video (which goes on; the same request later finds it)
    openai_wait_seconds: float = Field(default=600.0, ge=0)

    # --- webhooks ---
    # receivers must have public addresses (the policy of URL registration) unless they are in
    # one of these networks (comma-separated CIDRs, e.g. "10.0.0.0/8,127.0.0.1/32")
    webhook_allowed_networks: str = ""
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)  # connect + answer, per attempt
    webhook_concurrency: int = Field(default=8, ge=1)  # attempts in flight per dispatcher
    # of which at most this many to one endpoint (a slow receiver's backlog takes no more)
    webhook_concurrency_per_endpoint: int = Field(default=2, ge=1)
    webhook_max_attempts: int = Field(default=8, ge=1)  # then the delivery is dead-lettered
    # attempt n waits min(max, backoff * 2^(n-1)) after attempt n failed
    webhook_backoff_seconds: float = Field(default=5.0, ge=0)
    webhook_backoff_max_seconds: float = Field(default=3600.0, ge=0)
    webhook_poll_seconds: float = Field(default=1.0, gt=0)  # the dispatcher's look for due rows
    # a video.progress event per video at most this often (0: none)
    progress_event_seconds: float = Field(default=10.0, ge=0)

    @field_validator("webhook_allowed_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        for network in _split(value):
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError as exc:
                raise ValueError(f"VIDIGEST_WEBHOOK_ALLOWED_NETWORKS: {exc}") from None
        return value

    @property
    def webhook_network_list(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [
            ipaddress.ip_network(n, strict=False) for n in _split(self.webhook_allowed_networks)
        ]

    @field_validator("storage_url")
    @classmethod
    def _storage_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if value.startswith("file:"):
            return None
        bucket = value[len("s3://") :].split("/", 1)[0] if value.startswith("s3://") else ""
        if not bucket:
            raise ValueError(
                f"VIDIGEST_STORAGE_URL: {value!r} is not s3://bucket[/prefix] "
                "(leave it unset for the local directory)"
            )
        return value.rstrip("/")

    @field_validator("asr_cpu_isa", mode="before")
    @classmethod
    def _isa_upper(cls, value: object) -> object:
        if isinstance(value, str) and value.lower() != "auto":
            return value.upper()
        return value.lower() if isinstance(value, str) else value

    @field_validator("speakers", mode="before")
    @classmethod
    def _speakers(cls, value: object) -> object:
        return parse_speakers(value) if isinstance(value, str | int) else value

    @field_validator("asr_compute_type")
    @classmethod
    def _empty_compute_type_is_default(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator("language")
    @classmethod
    def _auto_is_none(cls, value: str | None) -> str | None:
        return None if value in (None, "", "auto") else value

    @field_validator("api_keys")
    @classmethod
    def _keys_or_nothing(cls, value: str) -> str:
        """Fail closed: a value that is set but names no key (" , ") would turn auth off."""
        if value.strip() and not _split(value):
            raise ValueError(
                "VIDIGEST_API_KEYS is set but names no key (only commas and spaces): "
                "give at least one key, or leave it empty to serve without authentication"
            )
        return value

    @field_validator("allowed_origins")
    @classmethod
    def _origins_are_origins(cls, value: str) -> str:
        for origin in _split(value):
            parts = urlsplit(origin)
            if (
                parts.scheme not in ("http", "https")
                or not parts.hostname
                or parts.path not in ("", "/")
                or parts.query
                or parts.fragment
                or parts.username is not None
            ):
                raise ValueError(
                    f"VIDIGEST_ALLOWED_ORIGINS: {origin!r} is not an origin "
                    "(scheme://host[:port], e.g. https://app.example.com)"
                )
        return value

    @property
    def api_key_list(self) -> list[str]:
        return _split(self.api_keys)

    @property
    def allowed_host_list(self) -> list[str]:
        """Host names the API answers: loopback, the bind address, VIDIGEST_ALLOWED_HOSTS."""
        names = [*LOOPBACK_HOSTS, self.api_host, *_split(self.allowed_hosts)]
        return list(dict.fromkeys(n.lower().strip("[]").rstrip(".") for n in names))

    @property
    def allowed_origin_list(self) -> list[str]:
        return [o.rstrip("/") for o in _split(self.allowed_origins)]

    @property
    def path_root_list(self) -> list[Path]:
        return [Path(r.strip()).expanduser() for r in self.path_roots.split(",") if r.strip()]

    @property
    def storage_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'vidigest.db'}"

    @property
    def embedded(self) -> bool:
        return self.kafka_bootstrap is None

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
