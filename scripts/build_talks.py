#!/usr/bin/env python3
"""Build the spoken chapter benchmark: narrated multi-topic talks with known topic changes.

    python scripts/build_talks.py                 # every talk (needs espeak-ng; ~10 min on 2 cores)
    python scripts/build_talks.py dev-03 test-12  # only these talks
    python scripts/build_talks.py --wav-only /tmp/talks test-06  # the wav + reference text only

Each talk joins several topic narrations from bench/data/topics/*.md (`# Title` = the reference
chapter title, then paragraphs), spoken by espeak-ng with the talk's voice and speed. Audio is
joined sample-exactly (as scripts/build_samples.py does), so the true topic change times are
exact. The talk is then transcribed by the real pipeline (`WhisperTranscriber("fast")`, the
default preset) and written to bench/data/talks/<name>.json: the transcript as the pipeline
stores it plus the true chapters (title, start, end). Audio is not kept; the JSON files are
committed, so `bench/chapters_spoken.py` and the quality-gate tests need no ASR and no espeak.

Why the talks look like this:
- Topics are split into disjoint dev and test sets (close pairs such as glaciers/rivers or
  coffee/tea on the same side), so a method tuned on dev talks is measured on talks whose
  subjects it never saw.
- Talks have 3 to 20 topics and last 2 to ~30 minutes; each topic is narrated in full or only
  its first 2-3 paragraphs, so chapter lengths vary within a talk.
- The silence between two topics is drawn from 0.3-1.5 s, the same range as pauses between
  sentences and paragraphs inside a topic: cutting at the longest pauses does not find topics.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from build_samples import _need, read_wav, trim_silence, write_wav  # noqa: E402

TOPICS_DIR = ROOT / "bench" / "data" / "topics"
TALKS_DIR = ROOT / "bench" / "data" / "talks"

LEAD_SECONDS = 0.5
PARAGRAPH_GAP = (0.3, 1.2)  # silence between paragraphs of one topic, seconds
TOPIC_GAP = (0.3, 1.5)  # silence between two topics, seconds
SEED = 12

# Close subjects sit on the same side, so each side has its near-neighbours to confuse.
DEV_TOPICS = [
    "glaciers",
    "rivers",
    "honeybees",
    "ants",
    "bread",
    "cheese",
    "football",
    "basketball",
    "heart",
    "lungs",
    "solarpower",
    "windpower",
    "pyramids",
    "romanroads",
    "moon",
    "mars",
    "chess",
    "piano",
    "photosynthesis",
    "recycling",
]
TEST_TOPICS = [
    "volcanoes",
    "earthquakes",
    "bicycle",
    "automobile",
    "coffee",
    "tea",
    "printing",
    "telephone",
    "internet",
    "penguins",
    "whales",
    "castles",
    "vikings",
    "rainforest",
    "coral",
    "chocolate",
    "sleep",
    "lighthouses",
    "rainbows",
    "olympics",
]


@dataclass(frozen=True)
class TalkSpec:
    name: str
    split: str  # "dev" or "test"
    n_topics: int
    voice: str
    words_per_minute: int
    full: bool  # every topic narrated in full (else 2-3 paragraphs, at random)


TALKS = (
    TalkSpec("dev-03", "dev", 3, "en-us", 175, False),
    TalkSpec("dev-04", "dev", 4, "en-gb", 165, False),
    TalkSpec("dev-05", "dev", 5, "en-us+f3", 160, False),
    TalkSpec("dev-06", "dev", 6, "en-gb-x-rp", 170, False),
    TalkSpec("dev-08", "dev", 8, "en-us", 155, False),
    TalkSpec("dev-12", "dev", 12, "en-gb-scotland", 140, True),
    TalkSpec("test-03", "test", 3, "en-gb", 170, False),
    TalkSpec("test-04", "test", 4, "en-us+f3", 175, False),
    TalkSpec("test-05", "test", 5, "en-us", 150, False),
    TalkSpec("test-06", "test", 6, "en-029", 165, False),
    TalkSpec("test-08", "test", 8, "en-gb-x-rp", 160, False),
    TalkSpec("test-12", "test", 12, "en-us", 135, True),
    # the long one: every held-out subject, in full, ~30 minutes
    TalkSpec("test-20", "test", 20, "en-us+f3", 125, True),
)


def read_topic(path: Path) -> tuple[str, list[str]]:
    """A topic file -> (its `# ` title, its paragraphs)."""
    title = ""
    paragraphs: list[list[str]] = [[]]
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            title = line[2:].strip()
        elif line.strip():
            paragraphs[-1].append(line.strip())
        elif paragraphs[-1]:
            paragraphs.append([])
    texts = [" ".join(p) for p in paragraphs if p]
    if not title or not texts:
        raise SystemExit(f"{path}: needs a '# Title' line and at least one paragraph")
    return title, texts


def narrate(text: str, voice: str, wpm: int, out: Path) -> tuple[np.ndarray, int]:
    src = out.with_suffix(".txt")
    src.write_text(text, encoding="utf-8")
    cmd = [_need("espeak-ng"), "-v", voice, "-s", str(wpm), "-w", str(out), "-f", str(src)]
    subprocess.run(cmd, check=True)
    return read_wav(out)


@dataclass(frozen=True)
class TalkAudio:
    """A talk's audio and what was said in it (the reference of the ASR benchmark)."""

    samples: np.ndarray
    rate: int
    chapters: list[dict[str, object]]
    paragraphs: list[str]  # exactly the narrated text, in order

    @property
    def reference(self) -> str:
        return " ".join(self.paragraphs)


def synthesize_talk(spec: TalkSpec, tmp: Path) -> TalkAudio:
    """Narrate a talk: the same random choices (topics, paragraphs, pauses) on every build."""
    rng = random.Random(f"{SEED}-{spec.name}")
    pool = DEV_TOPICS if spec.split == "dev" else TEST_TOPICS
    slugs = rng.sample(pool, spec.n_topics)
    rate = 0
    parts: list[np.ndarray] = []
    chapters: list[dict[str, object]] = []
    spoken: list[str] = []
    position = 0
    for i, slug in enumerate(slugs):
        title, paragraphs = read_topic(TOPICS_DIR / f"{slug}.md")
        if not spec.full:
            paragraphs = paragraphs[: rng.choice((2, 3, len(paragraphs)))]
        start = None
        for j, para in enumerate(paragraphs):
            samples, rate = narrate(para, spec.voice, spec.words_per_minute, tmp / f"t{i}p{j}.wav")
            if i == 0 and j == 0:
                gap = LEAD_SECONDS
            else:
                gap = rng.uniform(*(PARAGRAPH_GAP if j else TOPIC_GAP))
            silence = np.zeros(round(gap * rate), dtype=np.float32)
            clip = trim_silence(samples)
            parts += [silence, clip]
            if start is None:
                start = position + silence.size
            position += silence.size + clip.size
        spoken += paragraphs
        assert start is not None
        chapters.append(
            {
                "topic": slug,
                "title": title,
                "start": round(start / rate, 3),
                "end": round(position / rate, 3),
                "words": sum(len(p.split()) for p in paragraphs),
            }
        )
    parts.append(np.zeros(round(LEAD_SECONDS * rate), dtype=np.float32))
    return TalkAudio(np.concatenate(parts), rate, chapters, spoken)


def talk_wav(name: str, directory: Path) -> tuple[Path, str]:
    """(the wav of talk `name`, its reference text), built once into `directory` and reused
    (the ASR benchmark keeps them in /tmp: ~10 MB per 5 minutes, 10-60 s of espeak each)."""
    spec = next((t for t in TALKS if t.name == name), None)
    if spec is None:
        raise SystemExit(f"no such talk {name!r}; known: {' '.join(t.name for t in TALKS)}")
    directory.mkdir(parents=True, exist_ok=True)
    wav, text = directory / f"{name}.wav", directory / f"{name}.txt"
    if not (wav.is_file() and text.is_file()):
        with tempfile.TemporaryDirectory() as tmp:
            talk = synthesize_talk(spec, Path(tmp))
            write_wav(Path(tmp) / "talk.wav", talk.samples, talk.rate)
            text.write_text(talk.reference + "\n", encoding="utf-8")
            (Path(tmp) / "talk.wav").replace(wav)  # last: a wav is only there with its text
    return wav, text.read_text(encoding="utf-8").strip()


def build_talk(spec: TalkSpec, tmp: Path, transcriber: object) -> dict[str, object]:
    talk = synthesize_talk(spec, tmp)
    wav = tmp / f"{spec.name}.wav"
    write_wav(wav, talk.samples, talk.rate)
    transcript = transcriber.transcribe(wav)  # type: ignore[attr-defined]
    return {
        "name": spec.name,
        "split": spec.split,
        "voice": spec.voice,
        "words_per_minute": spec.words_per_minute,
        "duration": round(talk.samples.size / talk.rate, 3),
        "chapters": talk.chapters,
        "transcript": _rounded(transcript.model_dump(mode="json")),
    }


def _rounded(obj: object) -> object:
    """Times to the millisecond: smaller files, and the same JSON on every rebuild."""
    if isinstance(obj, float):
        return round(obj, 3)
    if isinstance(obj, dict):
        return {k: _rounded(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_rounded(v) for v in obj]
    return obj


def _dump(talk: dict[str, object]) -> str:
    """JSON with one chapter and one transcript segment per line (small, and diffs read well)."""
    transcript = dict(talk["transcript"])  # type: ignore[call-overload]
    segments = transcript.pop("segments")
    head = {k: v for k, v in talk.items() if k not in ("chapters", "transcript")}
    lines = [json.dumps(head)[:-1] + ', "chapters": [']
    lines += [" " + json.dumps(c) + "," for c in talk["chapters"]]  # type: ignore[attr-defined]
    lines[-1] = lines[-1][:-1]
    lines.append('], "transcript": ' + json.dumps(transcript)[:-1] + ', "segments": [')
    lines += [" " + json.dumps(s) + "," for s in segments]
    lines[-1] = lines[-1][:-1]
    lines.append("]}}")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    if argv[:1] == ["--wav-only"]:  # --wav-only DIR [TALK...]: audio + reference text, no ASR
        if len(argv) < 2:
            sys.exit("usage: build_talks.py --wav-only DIR [TALK...]")
        for name in argv[2:] or [t.name for t in TALKS]:
            wav, _ = talk_wav(name, Path(argv[1]))
            print(wav, flush=True)
        return
    from vidigest.modules.transcription.asr import WhisperTranscriber

    wanted = [t for t in TALKS if not argv or t.name in argv]
    if not wanted:
        sys.exit(f"no such talk; known: {' '.join(t.name for t in TALKS)}")
    transcriber = WhisperTranscriber("fast")
    TALKS_DIR.mkdir(parents=True, exist_ok=True)
    for spec in wanted:
        with tempfile.TemporaryDirectory() as tmp:
            talk = build_talk(spec, Path(tmp), transcriber)
        out = TALKS_DIR / f"{spec.name}.json"
        out.write_text(_dump(talk), encoding="utf-8")
        print(
            f"{spec.name}: {talk['duration']:.0f} s, {len(talk['chapters'])} topics, "
            f"voice {spec.voice} at {spec.words_per_minute} wpm -> {out.relative_to(ROOT)}",
            flush=True,
        )


if __name__ == "__main__":
    main(sys.argv[1:])
