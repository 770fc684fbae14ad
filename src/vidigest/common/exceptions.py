"""The error hierarchy.

`permanent` errors will fail the same way on every retry (bad media, malformed message): the
handler marks the video FAILED and dead-letters the message at once. Anything else is retried.
"""


class VidigestError(Exception):
    """Base of every error vidigest raises on purpose."""

    permanent: bool = False


class ConfigurationError(VidigestError):
    permanent = True


class NotFoundError(VidigestError):
    permanent = True


class VideoNotFoundError(NotFoundError):
    def __init__(self, video_id: str) -> None:
        super().__init__(f"video {video_id} not found")
        self.video_id = video_id


class VideoStateError(VidigestError):
    """The video is not in a status that allows the operation or status change (the API
    answers 409; a worker treats a message for a video past its stage as a duplicate)."""

    permanent = True


class MediaError(VidigestError):
    """The input media cannot be used; the message says why in words a user understands."""

    permanent = True


# Media errors name the file by `name`, what the user knows it as (its file name), never by
# the server path it is stored at: their text becomes the FAILED reason users read. `path`
# stays on the exception for logs.


class MediaNotFoundError(MediaError):
    def __init__(self, name: str, path: str | None = None) -> None:
        super().__init__(f"file not found: {name}")
        self.name = name
        self.path = path or name


class NoAudioStreamError(MediaError):
    def __init__(self, name: str, path: str | None = None) -> None:
        super().__init__(f"no audio stream in {name}")
        self.name = name
        self.path = path or name


class CorruptMediaError(MediaError):
    def __init__(self, name: str, reason: str, path: str | None = None) -> None:
        super().__init__(f"cannot decode {name}: {reason}")
        self.name = name
        self.path = path or name
        self.reason = reason


def clock(seconds: float) -> str:
    """12345.6 -> "3:25:46": durations the way people read them."""
    whole = round(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


class MediaTooLongError(MediaError):
    """Longer than `VIDIGEST_MAX_MEDIA_SECONDS`: as declared by the file (`declared`), or found
    while decoding (a file that declares nothing, or less than it holds). No file path in the
    message: it is shown to users as is."""

    def __init__(self, seconds: float, limit: float, *, declared: bool) -> None:
        limit_text = f"the limit of {clock(limit)} ({limit:g} s) for one file"
        if declared:
            message = (
                f"the media lasts {clock(seconds)} ({seconds:.0f} s), longer than {limit_text}"
            )
        else:
            message = f"the audio runs past {limit_text}: decoding stopped at {clock(seconds)}"
        super().__init__(message)
        self.seconds = seconds
        self.limit = limit
        self.declared = declared


class ModelError(VidigestError):
    """A model is missing, or its files do not match the pinned checksum."""

    permanent = True


class MalformedMessageError(VidigestError):
    """A message that can never be processed: bad JSON, unknown type, missing fields."""

    permanent = True


class InvalidQueryError(VidigestError, ValueError):
    """A caller-supplied query part (order_by, filter) does not name a real column."""

    permanent = True


class EmptyTranscriptError(VidigestError):
    """Nothing was said: there is nothing to summarize."""

    permanent = True


class UnsupportedLanguageError(VidigestError):
    """The requested language is not one Whisper knows: it fails the same way every time."""

    permanent = True

    def __init__(self, code: str, supported: list[str]) -> None:
        codes = ", ".join(supported)
        super().__init__(f"unsupported language code {code!r}: use auto (detect) or one of {codes}")
        self.code = code


class StorageError(VidigestError):
    """The media store refused an operation (access denied, a bucket that does not exist):
    retried and counted like any failure; the message names no bucket key or server path."""


class StorageUnavailableError(StorageError):
    """The media store is out of reach or answers 5xx (down, restarting, overloaded): an
    outage like a database one, which says nothing about the message; retried with backoff
    and not counted as an attempt."""

    transient = True
