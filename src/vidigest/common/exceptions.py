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


class MediaError(VidigestError):
    """The input media cannot be used; the message says why in words a user understands."""

    permanent = True


class MediaNotFoundError(MediaError):
    def __init__(self, path: str) -> None:
        super().__init__(f"file not found: {path}")
        self.path = path


class NoAudioStreamError(MediaError):
    def __init__(self, path: str) -> None:
        super().__init__(f"no audio stream in {path}")
        self.path = path


class CorruptMediaError(MediaError):
    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"cannot decode {path}: {reason}")
        self.path = path
        self.reason = reason


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
