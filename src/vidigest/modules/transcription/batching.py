"""How the batched decoder splits a window into batches, so a short file's progress moves.

The batched decoder reports progress once per batch. With whole-window batches, a file of one
or two windows (under ~10 minutes) would sit at 0 % until its transcription ends. So each
window's chunks are split into at least `batches_per_window` batches: enough for a file to
report `steps` times in all (the setting asr_progress_steps). A file of `steps` windows or
more keeps whole batches (it already reports once per window).

A batch never holds fewer than MIN_CHUNKS_PER_BATCH chunks (unless the window has fewer): on 2
cores the held-out 3-minute talk (7 chunks) took 6.1 s in one batch of 7, 6.0 s in batches of
4, 6.8 s in batches of 3 and 8.4 s in batches of 2 (docs/benchmarks.md#batched-decoding). So
a file of fewer than about 10 chunks (~4 minutes) reports fewer than `steps` times: once per 4
chunks.

The rule depends on the file's duration and the window's chunks only, so a resumed
transcription decodes each window in the same batches as an uninterrupted one.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

MIN_CHUNKS_PER_BATCH = 4  # smaller batches cost speed (see above)


def batches_per_window(duration: float | None, window_step: float, steps: int) -> int:
    """The batches each window of a file of `duration` seconds is decoded in, at least, for
    the file to report progress `steps` times (`window_step`: the audio one window advances
    by, about window - guard seconds)."""
    if not duration or duration <= 0:
        return 1  # unknown length (a stream): whole batches
    windows = max(1, math.ceil(duration / window_step))
    return max(1, math.ceil(steps / windows))


def batch_size_for(chunks: int, batch_size: int, batches: int) -> int:
    """The batch size that decodes `chunks` in `batches` batches, at most `batch_size` and at
    least MIN_CHUNKS_PER_BATCH (fewer batches, then)."""
    wanted = max(MIN_CHUNKS_PER_BATCH, math.ceil(chunks / max(1, batches)))
    return max(1, min(batch_size, wanted))


@cache
def pipeline_class() -> type[Any]:
    """faster-whisper's BatchedInferencePipeline, with the batch size chosen once its VAD has
    cut the window into chunks (their number is known only then). `batches` is set per call.

    It overrides `_batched_segments_generator`, which faster-whisper 1.2 calls with the chunks'
    features and the batch size (tests/unit/test_asr.py fails if that stops holding)."""
    from faster_whisper import BatchedInferencePipeline

    class Pipeline(BatchedInferencePipeline):  # type: ignore[misc]
        def __init__(self, model: Any, batches: int) -> None:
            super().__init__(model)
            self.batches = batches

        def _batched_segments_generator(
            self,
            features: Any,
            tokenizer: Any,
            chunks_metadata: Any,
            batch_size: int,
            options: Any,
            log_progress: bool,
        ) -> Any:
            size = batch_size_for(len(features), batch_size, self.batches)
            return super()._batched_segments_generator(
                features, tokenizer, chunks_metadata, size, options, log_progress
            )

    return Pipeline
