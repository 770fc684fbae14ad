"""The local LLM summarizer (`--summarizer local`) beside the extractive default, in one run.

    python bench/local_llm.py [--papers 5] [--model qwen1.5b] [--threads 2] [--json F]

ACLSum test papers (as in bench/summary_eval.py: introduction + conclusion read as a transcript
at 2.5 words/s, Whisper-like segments), each summarized by:
- lead-3 (the first three sentences; abstracts only),
- the extractive default (3-sentence abstract, its chapter titles),
- the local summarizer (the pinned GGUF model in-process; abstract and chapter titles written
  by the model over the extractive chapter boundaries).

Reported: abstract ROUGE-1/2/Lsum F1 against the 3-aspect reference summary; title ROUGE-1 F1,
every chapter title against the paper's real title (mean over a paper's chapters, then over
papers: a chapter is part of the paper, so its title should name the paper's subject); seconds
per 10 minutes of transcript (the summarizer only, model load excluded and reported apart); how
many runs fell back to the extractive summary, and how many calls needed the grammar retry.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from summary_eval import aclsum_rows, detokenize, papers, speak

from vidigest.common.types import Summary
from vidigest.config import Settings
from vidigest.modules.summary.extractive import ExtractiveConfig, ExtractiveSummarizer
from vidigest.modules.summary.local import local_summarizer


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--papers", type=int, default=5, help="ACLSum test papers (of 100)")
    ap.add_argument("--model", default="qwen1.5b", help="qwen1.5b, qwen0.5b or a .gguf path")
    ap.add_argument("--threads", type=int, default=0, help="llama.cpp threads (0: per core)")
    ap.add_argument("--data-dir", type=Path, help="where the joined model is kept")
    ap.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = ap.parse_args()

    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeLsum"], use_stemmer=True)
    rows = aclsum_rows("test")[: args.papers]
    corpus = papers(rows)
    titles = [detokenize(r["title"]) for r in rows]

    extractive = ExtractiveSummarizer(config=ExtractiveConfig(abstract_sentences=3))
    settings = Settings(local_llm_model=args.model, local_llm_threads=args.threads)
    if args.data_dir is not None:
        settings = settings.model_copy(update={"data_dir": args.data_dir})
    t0 = time.perf_counter()
    local = local_summarizer(settings, extractive)
    local.backend.engine.load()  # type: ignore[attr-defined]
    load_seconds = time.perf_counter() - t0

    names = ("lead-3", "extractive (default)", f"local {args.model}")
    abstract: dict[str, list[tuple[float, float, float]]] = {n: [] for n in names}
    title: dict[str, list[float]] = {n: [] for n in names[1:]}
    seconds = dict.fromkeys(names[1:], 0.0)
    fallbacks: list[str] = []
    retries = calls = 0
    duration = 0.0
    for k, (paper, real_title) in enumerate(zip(corpus, titles, strict=True)):
        reference = "\n".join(paper.reference)
        transcript = speak([paper.sentences]).transcript
        duration += transcript.duration
        outputs: dict[str, Summary] = {}
        for name, summarizer in ((names[1], extractive), (names[2], local)):
            t = time.perf_counter()
            outputs[name] = summarizer.summarize(transcript)
            seconds[name] += time.perf_counter() - t
        lead = "\n".join(paper.sentences[:3])
        for name, text in [
            ("lead-3", lead),
            *((n, s.abstract) for n, s in outputs.items()),
        ]:
            s = scorer.score(reference, text)
            abstract[name].append(
                (s["rouge1"].fmeasure, s["rouge2"].fmeasure, s["rougeLsum"].fmeasure)
            )
        for name, summary in outputs.items():
            title[name].append(
                statistics.mean(
                    scorer.score(real_title, c.title)["rouge1"].fmeasure for c in summary.chapters
                )
            )
        info = outputs[names[2]].metadata["llm"]
        calls += sum(info["calls"].values())
        retries += info.get("constrained_retries", 0)
        if "fallback" in info:
            fallbacks.append(
                f"{paper.id}: {info['fallback']['stage']}: {info['fallback']['reason']}"
            )
        print(
            f"[{k + 1}/{len(corpus)}] {paper.id} ({transcript.duration:.0f} s of talk) "
            + "; ".join(
                f"{n}: R-1 {100 * abstract[n][-1][0]:.1f}, title R-1 {100 * title[n][-1]:.1f}, "
                f"{seconds[n]:.0f} s so far"
                for n in names[1:]
            )
            + f"; local titles {[c.title for c in outputs[names[2]].chapters]}",
            file=sys.stderr,
            flush=True,
        )

    per_10min = {n: 600.0 * v / duration for n, v in seconds.items()}
    print(
        f"\n## Local LLM summarizer vs extractive: ACLSum test, {len(corpus)} papers, "
        f"{duration / len(corpus) / 60:.1f} min of talk each"
    )
    print("| method | abstract R-1 | R-2 | R-Lsum | title R-1 | s per 10 min of video |")
    print("|---|---:|---:|---:|---:|---:|")
    result: dict[str, Any] = {"papers": len(corpus), "model": args.model, "methods": {}}
    for name in names:
        r1, r2, rl = (100 * statistics.mean(x[j] for x in abstract[name]) for j in range(3))
        t1 = 100 * statistics.mean(title[name]) if name in title else None
        sec = per_10min.get(name)
        print(
            f"| {name} | {r1:.1f} | {r2:.1f} | {rl:.1f} | "
            f"{'-' if t1 is None else f'{t1:.1f}'} | {'-' if sec is None else f'{sec:.1f}'} |"
        )
        result["methods"][name] = {
            "rouge": [r1, r2, rl],
            "title_rouge1": t1,
            "seconds_per_10_min": sec,
        }
    print(
        f"model load {load_seconds:.1f} s (join + checksum on first use, then llama.cpp); "
        f"{retries} of {calls} calls retried under the grammar; "
        f"{len(fallbacks)} of {len(corpus)} runs fell back to extractive"
    )
    for line in fallbacks:
        print(f"- fallback {line}")
    result.update(
        load_seconds=load_seconds, calls=calls, grammar_retries=retries, fallbacks=fallbacks
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
