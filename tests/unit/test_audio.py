"""probe_media / iter_audio on real encoded media of every supported kind, and on bad input."""

from __future__ import annotations

import subprocess
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from tests import media
from vidigest.common.exceptions import (
    CorruptMediaError,
    MediaError,
    MediaNotFoundError,
    MediaTooLongError,
    NoAudioStreamError,
)
from vidigest.modules.transcription.audio import (
    MediaInfo,
    check_duration,
    iter_audio,
    probe_media,
)

SENTENCE = "The quick brown fox jumps over the lazy dog near the quiet river bank."
INVALID = "Invalid data found when processing input"


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="module")
def reference_wav(media_dir: Path) -> Path:
    return media.speech(media_dir, SENTENCE, "wav")


def _wav_seconds(path: Path) -> float:
    import wave

    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


# --- probing and decoding each format ---------------------------------------------------------


@pytest.mark.parametrize("fmt", media.AUDIO_FORMATS)
def test_probe_each_audio_format(
    media_dir: Path, reference_wav: Path, fmt: media.AudioFormat
) -> None:
    path = reference_wav if fmt == "wav" else media.convert(reference_wav, fmt, media_dir)
    info = probe_media(path)
    assert isinstance(info, MediaInfo)
    assert info.path == path
    assert info.container == media.CONTAINER_NAMES[fmt]
    assert info.audio_codec == media.CODEC_NAMES[fmt]
    assert (info.audio_streams, info.video_streams) == (1, 0)
    assert info.duration == pytest.approx(_wav_seconds(reference_wav), abs=0.1)


@pytest.mark.parametrize("fmt", media.AUDIO_FORMATS)
def test_decode_each_audio_format(
    media_dir: Path, reference_wav: Path, fmt: media.AudioFormat
) -> None:
    path = reference_wav if fmt == "wav" else media.convert(reference_wav, fmt, media_dir)
    chunks = list(iter_audio(path, chunk_seconds=1.0))
    assert all(c.dtype == np.float32 and c.ndim == 1 for c in chunks)
    assert all(c.size == 16_000 for c in chunks[:-1])
    assert 0 < chunks[-1].size <= 16_000
    audio = np.concatenate(chunks)
    assert audio.size / 16_000 == pytest.approx(_wav_seconds(reference_wav), abs=0.1)
    assert np.abs(audio).max() <= 1.0
    assert float(np.sqrt(np.mean(audio**2))) > 0.01  # it is speech, not silence


def test_decoded_samples_match_the_source_wav(reference_wav: Path) -> None:
    """Decoding a 22.05 kHz wav to 16 kHz keeps the waveform: compare with an independent
    resampling by linear interpolation."""
    import wave

    with wave.open(str(reference_wav)) as w:
        rate = w.getframerate()
        source = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2") / 32768.0
    decoded = np.concatenate(list(iter_audio(reference_wav)))
    t = np.arange(decoded.size) / 16_000
    expected = np.interp(t, np.arange(source.size) / rate, source)
    n = min(decoded.size, expected.size) - 200
    correlation = np.corrcoef(decoded[100:n], expected[100:n])[0, 1]
    assert correlation > 0.95


def test_sample_rate_and_chunk_size_are_honoured(media_dir: Path) -> None:
    path = media.tone(media_dir, 10.0, "flac", frequency=440)
    chunks = list(iter_audio(path, sample_rate=8_000, chunk_seconds=3.0))
    assert [c.size for c in chunks] == [24_000, 24_000, 24_000, 8_000]
    # stereo 44.1 kHz was downmixed and resampled: the tone is still at 440 Hz
    spectrum = np.abs(np.fft.rfft(chunks[0]))
    peak_hz = np.argmax(spectrum) * 8_000 / chunks[0].size
    assert peak_hz == pytest.approx(440, abs=2)


def test_video_with_audio_sample() -> None:
    path = media.sample("librivox_speech.mp4")
    info = probe_media(path)
    assert info.container == media.CONTAINER_NAMES["m4a"]
    assert (info.audio_streams, info.video_streams, info.audio_codec) == (1, 1, "aac")
    assert info.duration == pytest.approx(26.73, abs=0.5)
    seconds = sum(c.size for c in iter_audio(path)) / 16_000
    assert seconds == pytest.approx(26.73, abs=0.1)


def test_choose_between_two_audio_tracks(media_dir: Path) -> None:
    short = media.speech(media_dir, "One two.", "wav")
    long = media.speech(media_dir, SENTENCE, "wav")
    path = media.two_audio_tracks(media_dir, short, long)
    info = probe_media(path)
    assert (info.audio_streams, info.video_streams) == (2, 1)
    first = sum(c.size for c in iter_audio(path, stream_index=0)) / 16_000
    second = sum(c.size for c in iter_audio(path, stream_index=1)) / 16_000
    assert first == pytest.approx(_wav_seconds(short), abs=0.1)
    assert second == pytest.approx(_wav_seconds(long), abs=0.1)
    with pytest.raises(MediaError, match=r"audio stream 2 not found in .*: it has 2 audio"):
        next(iter_audio(path, stream_index=2))


# --- streaming: several chunks, flat memory ---------------------------------------------------


def test_multi_minute_input_streams_in_chunks_with_flat_memory(media_dir: Path) -> None:
    path = media.tone(media_dir, 300.0, "m4a")  # 5 min, stereo 44.1 kHz AAC
    whole_file_bytes = 300 * 16_000 * 4  # 19.2 MB as float32
    tracemalloc.start()
    try:
        sizes = []
        for chunk in iter_audio(path, chunk_seconds=30.0):
            sizes.append(chunk.size)
            del chunk
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(sizes) >= 10  # AAC padding may add a last chunk of a few ms
    assert all(s == 480_000 for s in sizes[:-1])
    assert sum(sizes) / 16_000 == pytest.approx(300.0, abs=0.1)
    # numpy buffers are traced: the peak is about two chunks (1.9 MB each), never the whole file
    chunk_bytes = 480_000 * 4
    assert peak < 3 * chunk_bytes < whole_file_bytes, peak


def test_iter_audio_is_lazy(media_dir: Path) -> None:
    path = media.tone(media_dir, 120.0, "m4a")
    generator = iter_audio(path, chunk_seconds=10.0)
    first = next(generator)
    assert first.size == 160_000
    generator.close()  # stops decoding and closes the container


# --- bad input --------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.mp4"
    with pytest.raises(MediaNotFoundError) as caught:
        probe_media(missing)
    # the file by its name, never its server path (the text becomes a user-visible reason)
    assert str(caught.value) == "file not found: nope.mp4"
    assert caught.value.path == str(missing)  # kept for logs
    assert caught.value.permanent
    with pytest.raises(MediaNotFoundError, match="file not found"):
        next(iter_audio(missing))


def test_directory_is_not_media(tmp_path: Path) -> None:
    with pytest.raises(MediaNotFoundError) as caught:
        probe_media(tmp_path)
    assert str(caught.value) == f"file not found: {tmp_path.name}"
    with pytest.raises(MediaNotFoundError):
        next(iter_audio(tmp_path))


def test_random_bytes_named_mp4(tmp_path: Path) -> None:
    path = media.corrupt_random_mp4(tmp_path)
    with pytest.raises(CorruptMediaError) as caught:
        probe_media(path)
    assert caught.value.reason == INVALID
    assert str(caught.value) == f"cannot decode {path.name}: {INVALID}"
    assert caught.value.permanent
    with pytest.raises(CorruptMediaError, match=INVALID):
        next(iter_audio(path))


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    with pytest.raises(CorruptMediaError) as caught:
        probe_media(path)
    assert caught.value.reason == INVALID


def test_truncated_mp4_with_index_at_the_end_cannot_open(tmp_path: Path) -> None:
    whole = media.moov_at_end(tmp_path, media.sample("librivox_speech.mp4"))
    assert probe_media(whole).audio_streams == 1
    path = media.truncated_mp4(tmp_path, whole, keep=0.8)
    with pytest.raises(CorruptMediaError) as caught:
        probe_media(path)
    assert caught.value.reason == INVALID


def test_truncated_mp4_fails_mid_stream(tmp_path: Path) -> None:
    """The index is at the front, so it opens; decoding fails after yielding what it holds."""
    path = media.truncated_mp4(tmp_path, media.sample("librivox_speech.mp4"), keep=0.8)
    assert probe_media(path).duration == pytest.approx(27.0, abs=0.5)
    chunks: list[int] = []
    with pytest.raises(CorruptMediaError) as caught:
        for chunk in iter_audio(path, chunk_seconds=2.0):
            chunks.append(chunk.size)
    assert caught.value.reason == INVALID
    assert len(chunks) >= 5  # the audio before the cut was delivered


def test_truncated_mp4_that_ends_quietly_is_reported(tmp_path: Path) -> None:
    """Cut early, the demuxer just stops: the shortfall against the declared duration is caught."""
    path = media.truncated_mp4(tmp_path, media.sample("librivox_speech.mp4"), keep=0.4)
    with pytest.raises(CorruptMediaError) as caught:
        list(iter_audio(path))
    assert caught.value.reason.startswith("file is truncated: decoded ")
    assert caught.value.reason.endswith(" s of the 26.7 s of audio it declares")


def test_complete_files_are_not_reported_truncated() -> None:
    for name in ("librivox_speech.mp4", "three_topics_talk.mp4"):
        assert sum(c.size for c in iter_audio(media.sample(name))) > 0


def test_video_without_audio(tmp_path: Path) -> None:
    path = media.video_without_audio(tmp_path, seconds=2.0)
    with pytest.raises(NoAudioStreamError) as caught:
        probe_media(path)
    assert str(caught.value) == f"no audio stream in {path.name}"
    assert caught.value.permanent
    with pytest.raises(NoAudioStreamError):
        next(iter_audio(path))


def test_silence_decodes_to_zeros(tmp_path: Path) -> None:
    path = media.silence(tmp_path, 3.0, "flac")
    audio = np.concatenate(list(iter_audio(path)))
    assert audio.size == 48_000
    assert float(np.abs(audio).max()) == 0.0


def test_invalid_arguments(reference_wav: Path) -> None:
    with pytest.raises(ValueError, match="positive"):
        next(iter_audio(reference_wav, chunk_seconds=0))


# --- starting part-way (resume) ---------------------------------------------------------------


@pytest.mark.parametrize("fmt", media.AUDIO_FORMATS)
def test_start_at_gives_the_samples_of_a_decode_from_the_start(
    media_dir: Path, fmt: media.AudioFormat
) -> None:
    """Seeked (wav, flac) or decoded through (stateful codecs), what comes from `start_at` on is
    sample for sample what a decode from the start gives there: a resumed transcription sees
    the audio an uninterrupted one saw. A stereo 44.1 kHz tone: any sub-sample misalignment of
    the resampler would show."""
    path = media.tone(media_dir, 12.0, fmt, frequency=1234)
    full = np.concatenate(list(iter_audio(path)))
    for start_at in (0.55, 7.3):
        part = np.concatenate(list(iter_audio(path, start_at=start_at, chunk_seconds=2.0)))
        first = round(start_at * 16_000)
        assert part.size == full.size - first
        np.testing.assert_array_equal(part, full[first:])


def test_start_at_past_the_end_and_negative(media_dir: Path, reference_wav: Path) -> None:
    assert list(iter_audio(reference_wav, start_at=60.0)) == []
    with pytest.raises(ValueError, match="start_at"):
        next(iter_audio(reference_wav, start_at=-1.0))


# --- the length limit (VIDIGEST_MAX_MEDIA_SECONDS) --------------------------------------------


def test_check_duration_refuses_what_a_file_declares(media_dir: Path) -> None:
    path = media.silence(media_dir, 20.0, "flac")
    info = probe_media(path)
    assert check_duration(info, 0) is info  # 0: no limit
    assert check_duration(info, 30.0) is info
    with pytest.raises(MediaTooLongError) as caught:
        check_duration(info, 5.0)
    assert caught.value.declared and caught.value.permanent
    assert str(caught.value).startswith("the media lasts 0:00:20 (20 s), longer than the limit")
    assert str(path) not in str(caught.value)


def test_decoding_stops_once_the_audio_passes_the_limit(tmp_path: Path) -> None:
    """A FLAC written to a pipe declares no length (probe: 0.0), so the check on what files
    declare lets it through: decoding stops as soon as the audio passes the limit instead."""
    path = tmp_path / "undeclared.flac"
    with path.open("wb") as out:
        subprocess.run(
            [
                *("ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi"),
                *("-i", "anullsrc=r=16000:cl=mono", "-t", "20", "-c:a", "flac", "-f", "flac"),
                "pipe:1",
            ],
            stdout=out,
            check=True,
        )
    assert probe_media(path).duration == 0.0
    check_duration(probe_media(path), 5.0)
    decoded = 0
    with pytest.raises(MediaTooLongError) as caught:
        for chunk in iter_audio(path, chunk_seconds=1.0, max_seconds=5.0):
            decoded += chunk.size
    assert 4 * 16_000 <= decoded <= 5 * 16_000
    assert not caught.value.declared and "0:00:05" in str(caught.value)
    assert sum(c.size for c in iter_audio(path, max_seconds=0)) == 20 * 16_000
    # resumed past the start, the limit still counts from the beginning of the file
    with pytest.raises(MediaTooLongError):
        list(iter_audio(path, start_at=4.0, chunk_seconds=1.0, max_seconds=5.0))
