"""The whole track at once, for diarization: the same samples transcription streams."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.support import media
from vidigest.common.exceptions import MediaTooLongError
from vidigest.modules.transcription.audio import decode_audio, iter_audio


@pytest.mark.parametrize("expected", [0.0, 3.0, 12.0, 100.0])
def test_decode_audio_is_the_streamed_samples_whatever_the_size_guess(
    tmp_path: Path, expected: float
) -> None:
    path = media.tone(tmp_path, 12.0, "flac", frequency=330)
    streamed = np.concatenate(list(iter_audio(path, chunk_seconds=1.0)))
    whole = decode_audio(path, expected_seconds=expected)
    assert whole.dtype == np.float32 and whole.ndim == 1
    np.testing.assert_array_equal(whole, streamed)
    if expected > 24.0:  # a far too big guess is not kept alive
        assert whole.base is None


def test_decode_audio_stops_past_the_limit(tmp_path: Path) -> None:
    path = media.tone(tmp_path, 12.0, "flac")
    with pytest.raises(MediaTooLongError):
        decode_audio(path, max_seconds=5.0)
