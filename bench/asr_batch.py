"""Plain faster-whisper against vidigest's windowed decoding, sequential and batched: one run.

    .venv/bin/python bench/asr_batch.py                       # test-06 (5.1 min), 3 rounds
    .venv/bin/python bench/asr_batch.py --talks test-03,test-06,test-12 --rounds 5 --batch 4,8

On the same files, with the same model object (so the same weights, threads and CPU kernels),
in one process, interleaved round by round (plain, sequential, batched, plain, ...) so that a
busy machine slows every run alike; wall time is the median over the rounds:

- plain: `WhisperModel.transcribe(path, beam_size=5, vad_filter=True, word_timestamps=True)`,
  faster-whisper's defaults otherwise (previous text as prompt, temperature fallback), the
  whole file at once, no windows: the baseline.
- windowed, sequential: `WhisperTranscriber(batch_size=1)`, 300 s windows.
- windowed, batched: `WhisperTranscriber(batch_size=N)` (BatchedInferencePipeline in each
  window), for each N of --batch, with the default progress steps (a short file's windows are
  split into smaller batches so that its progress moves: batching.py).
- with --progress-steps S,..., also "batched N, S steps" for each S (1: whole-window batches):
  what the smaller batches cost.

Inputs: held-out narrated talks (`scripts/build_talks.py`, espeak-ng; built once into
--talk-dir with their reference text) and the real-speech sets of bench/asr_eval.py (LibriVox).
Wall time counts decoding the audio and recognising it, not loading the model. WER: Whisper's
English normalizer + jiwer over each file's reference, the median over the rounds, with the
range when rounds differ: faster-whisper's temperature fallback samples at random (plain, and
the sequential decoder when a chunk fails its checks); the batched decoder runs at temperature
0 only and gives the same text every round.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from bench.asr_eval import datasets  # noqa: E402
from tests.support.wer import wer  # noqa: E402


def inputs(talks: list[str], talk_dir: Path, librivox: bool) -> list[tuple[str, list[Path], str]]:
    """(name, files, reference text) of each input set."""
    from build_talks import talk_wav

    found: list[tuple[str, list[Path], str]] = []
    for name in talks:
        wav, reference = talk_wav(name, talk_dir)
        found.append((name, [wav], reference))
    if librivox:
        for name, (files, reference) in datasets().items():
            found.append((name, files, reference))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--talks", default="test-06", help="comma-separated talk names")
    parser.add_argument("--talk-dir", type=Path, default=Path("/tmp/vidigest-talks"))
    parser.add_argument("--no-librivox", action="store_true", help="only the talks")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", default="8", help="batch sizes of the batched rows")
    parser.add_argument(
        "--progress-steps", default="", help="also each batched row with these progress steps"
    )
    parser.add_argument("--model", default="fast")
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--compute-type", default=None)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from vidigest.config import Settings
    from vidigest.modules.transcription.asr import WhisperTranscriber

    sets = inputs([t for t in args.talks.split(",") if t], args.talk_dir, not args.no_librivox)
    batches = [int(b) for b in args.batch.split(",")]

    def transcriber(batch: int, steps: int | None = None) -> WhisperTranscriber:
        t = WhisperTranscriber(
            args.model,
            device=args.device,
            compute_type=args.compute_type,
            beam_size=args.beam,
            batch_size=batch,
            progress_steps=steps or Settings().asr_progress_steps,
            data_dir=args.talk_dir / "data",
        )
        if shared is not None:
            t._resolved, t._model = shared.resolved, shared.load_weights()
        return t

    shared: WhisperTranscriber | None = None
    shared = transcriber(1)
    model = shared.load_weights()

    def plain(path: Path) -> str:
        segments, _ = model.transcribe(
            str(path), beam_size=args.beam, vad_filter=True, word_timestamps=True
        )
        return " ".join(s.text.strip() for s in segments)

    runs: list[tuple[str, Callable[[Path], str]]] = [("plain faster-whisper", plain)]
    for batch in [1, *batches]:
        t = transcriber(batch)
        label = "windowed, sequential" if batch == 1 else f"windowed, batched {batch}"
        runs.append((label, lambda path, t=t: t.transcribe(path).text))
        for steps in [int(n) for n in args.progress_steps.split(",") if n] if batch > 1 else []:
            other = transcriber(batch, steps)
            runs.append((f"{label}, {steps} steps", lambda path, t=other: t.transcribe(path).text))

    print(
        f"model {shared.model_name}, {args.device} {shared.compute_type}, beam {args.beam}, "
        f"{os.cpu_count()} cores (shared machine: read the ratios), {args.rounds} rounds "
        "interleaved, median wall time"
    )
    print(
        f"{'input':<24}{'run':<32}{'audio s':>8}{'wall s':>8}{'RTF':>7}{'speedup':>8}{'WER %':>7}"
    )
    totals: dict[str, list[float]] = {label: [0.0, 0.0, 0.0] for label, _ in runs}
    for name, files, reference in sets:
        from vidigest.media.probe import probe_media

        audio = sum(probe_media(f).duration for f in files)
        walls: dict[str, list[float]] = {label: [] for label, _ in runs}
        errors: dict[str, list[float]] = {label: [] for label, _ in runs}
        for _ in range(args.rounds):
            for label, run in runs:
                started = time.perf_counter()
                text = " ".join(run(f) for f in files)
                walls[label].append(time.perf_counter() - started)
                errors[label].append(wer(reference, text))
        base = statistics.median(walls[runs[0][0]])
        for label, _ in runs:
            wall = statistics.median(walls[label])
            error = statistics.median(errors[label])
            spread = (
                f"  ({100 * min(errors[label]):.1f}-{100 * max(errors[label]):.1f})"
                if len(set(errors[label])) > 1
                else ""
            )
            words = len(reference.split())
            totals[label][0] += wall
            totals[label][1] += error * words
            totals[label][2] += words
            print(
                f"{name:<24}{label:<32}{audio:>8.1f}{wall:>8.1f}{wall / audio:>7.3f}"
                f"{base / wall:>8.2f}{100 * error:>7.1f}{spread}",
                flush=True,
            )
    if len(sets) > 1:
        base = totals[runs[0][0]][0]
        for label, (wall, errors, words) in totals.items():
            print(
                f"{'all (WER word-weighted)':<24}{label:<32}{'':>8}{wall:>8.1f}{'':>7}"
                f"{base / wall:>8.2f}{100 * errors / words:>7.1f}"
            )


if __name__ == "__main__":
    main()
