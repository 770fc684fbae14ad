"""Speech recognition evaluation: WER, real-time factor and peak RSS of each preset.

    .venv/bin/python bench/asr_eval.py            # the table (about 2 minutes on 2 cores)
    nice .venv/bin/python bench/asr_eval.py --long  # + a 2-hour file with `fast` (~10+ min)

Real speech with references: the 5 LibriVox utterances of pocketsphinx-testdata (24.7 s) and
samples/librivox_speech.mp4 (26.7 s). Each run is a fresh child process (model load included in
its wall time and peak RSS; RTF counts transcription only). The baseline, measured in the same
run with the same model files: plain faster-whisper `WhisperModel.transcribe` on the whole file
(int8, beam 5, VAD, word timestamps; no windowing). Each vidigest row shows its ratio to the
baseline of its own model. WER: Whisper's English normalizer + jiwer (tests/wer.py), over the
concatenated references of a set.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.wer import wer  # noqa: E402

LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
SAMPLES = REPO / "samples"

# One child per run: transcribes each file, prints JSON {texts, audio, asr_seconds}.
VIDIGEST_CHILD = """
import json, sys, time
from vidigest.modules.transcription.asr import WhisperTranscriber
spec, data_dir, files = sys.argv[1], sys.argv[2], sys.argv[3:]
t = WhisperTranscriber(spec, data_dir=__import__("pathlib").Path(data_dir))
t.load()
texts, audio, spent = [], 0.0, 0.0
for f in files:
    started = time.perf_counter()
    result = t.transcribe(f)
    spent += time.perf_counter() - started
    texts.append(result.text)
    audio += result.duration
print(json.dumps({"texts": texts, "audio": audio, "asr_seconds": spent}))
"""

BASELINE_CHILD = """
import json, sys, time
from faster_whisper import WhisperModel
from vidigest.modules.transcription.model_files import resolve_model
spec, data_dir, files = sys.argv[1], sys.argv[2], sys.argv[3:]
path = resolve_model(spec, data_dir=__import__("pathlib").Path(data_dir)).path
model = WhisperModel(str(path), device="cpu", compute_type="int8", local_files_only=True)
texts, audio, spent = [], 0.0, 0.0
for f in files:
    started = time.perf_counter()
    segments, info = model.transcribe(f, beam_size=5, vad_filter=True, word_timestamps=True)
    texts.append(" ".join(s.text.strip() for s in segments))
    spent += time.perf_counter() - started
    audio += info.duration
print(json.dumps({"texts": texts, "audio": audio, "asr_seconds": spent}))
"""


def run_child(code: str, args: list[str]) -> tuple[dict[str, object], float, float]:
    """(its JSON output, wall seconds, peak RSS MiB) of one child process."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    started = time.perf_counter()
    with subprocess.Popen(
        [sys.executable, "-c", code, *args], env=env, stdout=subprocess.PIPE, text=True
    ) as child:
        assert child.stdout is not None
        output = child.stdout.read()
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"child exited {child.returncode}: {args}")
    return json.loads(output), time.perf_counter() - started, usage.ru_maxrss / 1024


def datasets() -> dict[str, tuple[list[Path], str]]:
    ids = (LIBRIVOX / "fileids").read_text().split()
    references = {}
    for line in (LIBRIVOX / "transcription").read_text().splitlines():
        text, _, rest = line.rpartition("(")
        words = [w for w in text.split() if w not in ("<s>", "</s>")]
        references[rest.rstrip(")").strip()] = " ".join(words)
    return {
        "librivox 5 utterances": (
            [LIBRIVOX / f"{i}.wav" for i in ids],
            " ".join(references[i] for i in ids),
        ),
        "librivox_speech.mp4": (
            [SAMPLES / "librivox_speech.mp4"],
            (SAMPLES / "librivox_speech.txt").read_text(),
        ),
    }


def table(data_dir: Path) -> None:
    print(
        f"{'set':<23}{'preset':<10}{'run':<10}{'WER %':>7}{'RTF':>8}{'x base':>8}"
        f"{'RSS MiB':>9}{'x base':>8}{'wall s':>8}"
    )
    for name, (files, reference) in datasets().items():
        args = [str(f) for f in files]
        for preset in ("fast", "accurate"):
            rows = []
            for run, code in (("baseline", BASELINE_CHILD), ("vidigest", VIDIGEST_CHILD)):
                out, wall, rss = run_child(code, [preset, str(data_dir), *args])
                texts = out["texts"]
                assert isinstance(texts, list)
                error = wer(reference, " ".join(texts))
                rtf = float(out["asr_seconds"]) / float(out["audio"])  # type: ignore[arg-type]
                rows.append((run, error, rtf, rss, wall))
            base_rtf, base_rss = rows[0][2], rows[0][3]
            for run, error, rtf, rss, wall in rows:
                print(
                    f"{name:<23}{preset:<10}{run:<10}{100 * error:>7.1f}{rtf:>8.3f}"
                    f"{rtf / base_rtf:>8.2f}{rss:>9.0f}{rss / base_rss:>8.2f}{wall:>8.1f}"
                )


def long_run(directory: Path, data_dir: Path, hours: float) -> None:
    target = directory / "talk_long.m4a"
    seconds = round(hours * 3600)
    subprocess.run(
        [
            *("ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-stream_loop", "-1"),
            *("-i", str(SAMPLES / "three_topics_talk.mp4"), "-t", str(seconds)),
            *("-vn", "-c:a", "copy", str(target)),
        ],
        check=True,
    )
    out, wall, rss = run_child(VIDIGEST_CHILD, ["fast", str(data_dir), str(target)])
    audio = float(out["audio"])  # type: ignore[arg-type]
    asr = float(out["asr_seconds"])  # type: ignore[arg-type]
    texts = out["texts"]
    assert isinstance(texts, list)
    print(
        f"\n--long: {audio / 3600:.2f} h of audio (three_topics_talk looped), preset fast: "
        f"wall {wall / 60:.1f} min, ASR {asr / 60:.1f} min, RTF {asr / audio:.3f}, "
        f"peak RSS {rss:.0f} MiB, {len(texts[0].split())} words"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long", action="store_true", help="also the 2-hour run (fast only)")
    parser.add_argument("--long-only", action="store_true", help="only the 2-hour run")
    parser.add_argument("--hours", type=float, default=2.0, help="length of the long file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data_dir = work / "data"  # the joined "accurate" model is cached here for the run
        if not args.long_only:
            table(data_dir)
        if args.long or args.long_only:
            long_run(work, data_dir, args.hours)


if __name__ == "__main__":
    main()
