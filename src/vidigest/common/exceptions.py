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
