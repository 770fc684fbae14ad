"""Chapters on narrated talks, transcribed by the real pipeline: the spoken chapter benchmark.

    python bench/chapters_spoken.py [--split dev|test|all] [--json F] [--sweep]

The talks are bench/data/talks/*.json, made by scripts/build_talks.py: 13 talks (6 dev, 7 test,
on disjoint topics), 3 to 20 topics, 2 to 30 minutes, espeak-ng voices, transcribed with the
`fast` preset; each file holds the transcript as the pipeline stores it and the true chapters.
No ASR runs here, so the figures repeat exactly.

Per method, over the words of the transcript (a word belongs to the true chapter in which it
starts): Pk and WindowDiff (k = half the mean true chapter length in words; lower is better),
and boundary precision / recall / F1 at +-15 s (a predicted chapter start matches at most one
true topic change within 15 s; counts summed over talks). Titles: ROUGE-1 F1 (stemmed) of each
true chapter's title against the title of the predicted chapter that overlaps it most
("end to end"), and of titles made for the true chapters ("given the true chapters", which
measures titling alone). Methods in the same run: the default summarizer, the previous default
(TextTiling with a permutation test), even spacing into the true number of chapters, and one
chapter every 60 s / 120 s.

`--sweep` also prints F1 and Pk for a range of the segmentation penalty (the sensitivity of the
one parameter that sets how many chapters there are; it was chosen on dev talks only).
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from summary_eval import CachedEncoder, pk_windowdiff

from vidigest.common.types import Transcript
from vidigest.modules.summary.extractive import ExtractiveConfig, ExtractiveSummarizer
from vidigest.modules.summary.text import split_sentences, timed_tokens
from vidigest.modules.summary.titles import chapter_titles, make_title, tfidf_phrases

TALKS = Path(__file__).resolve().parent / "data" / "talks"
TOLERANCE = 15.0


@dataclass(frozen=True)
class Talk:
    name: str
    split: str
    transcript: Transcript
    titles: list[str]
    starts: list[float]  # true chapter starts (first one: the talk's start)
    word_times: list[float]


def load_talks(split: str = "all") -> list[Talk]:
    talks = []
    for path in sorted(TALKS.glob("*.json")):
        d = json.loads(path.read_text(encoding="utf-8"))
        if split not in ("all", d["split"]):
            continue
        transcript = Transcript.model_validate(d["transcript"])
        talks.append(
            Talk(
                d["name"],
                d["split"],
                transcript,
                [c["title"] for c in d["chapters"]],
                [c["start"] for c in d["chapters"]],
                [t.start for t in timed_tokens(transcript.segments)],
            )
        )
    return talks


def labels(times: Sequence[float], starts: Sequence[float]) -> list[int]:
    """Chapter number of each time, given chapter starts (the first one covers anything before)."""
    return [max(0, int(np.searchsorted(starts, t, side="right")) - 1) for t in times]


def matches(true_b: Sequence[float], pred_b: Sequence[float], tol: float = TOLERANCE) -> int:
    """Size of a one-to-one matching of boundaries within `tol` seconds (greedy, closest first)."""
    pairs = sorted(
        (abs(t - p), i, j)
        for i, t in enumerate(true_b)
        for j, p in enumerate(pred_b)
        if abs(t - p) <= tol
    )
    used_t: set[int] = set()
    used_p: set[int] = set()
    for _, i, j in pairs:
        if i not in used_t and j not in used_p:
            used_t.add(i)
            used_p.add(j)
    return len(used_t)


def prf(m: int, n_pred: int, n_true: int) -> tuple[float, float, float]:
    p = m / n_pred if n_pred else 1.0
    r = m / n_true if n_true else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def title_rouge(refs: Sequence[str], hyps: Sequence[str]) -> float:
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1"], use_stemmer=True)
    return 100 * statistics.mean(
        scorer.score(r, h)["rouge1"].fmeasure for r, h in zip(refs, hyps, strict=True)
    )


def overlap_titles(talk: Talk, starts: Sequence[float], titles: Sequence[str]) -> list[str]:
    """For each true chapter, the title of the predicted chapter overlapping it most."""
    end = talk.transcript.duration
    t_bounds = [*talk.starts[1:], end]
    p_bounds = [*starts[1:], end]
    out = []
    t0 = 0.0
    for t1 in t_bounds:
        best, best_len, p0 = 0, -1.0, 0.0
        for j, p1 in enumerate(p_bounds):
            ov = min(t1, p1) - max(t0, p0)
            if ov > best_len:
                best, best_len = j, ov
            p0 = p1
        out.append(titles[best])
        t0 = t1
    return out


Segmenter = Callable[[Talk], tuple[list[float], list[str]]]


def evaluate(talks: Sequence[Talk], method: Segmenter) -> dict[str, Any]:
    m = n_pred = n_true = 0
    pks: list[float] = []
    wds: list[float] = []
    refs: list[str] = []
    hyps: list[str] = []
    counts: list[tuple[int, int]] = []
    per_talk: list[dict[str, Any]] = []
    for talk in talks:
        starts, titles = method(talk)
        ref = labels(talk.word_times, talk.starts)
        hyp = labels(talk.word_times, starts)
        k = max(2, round(len(ref) / len(talk.starts) / 2))
        pk, wd = pk_windowdiff(ref, hyp, k)
        pks.append(pk)
        wds.append(wd)
        found = matches(talk.starts[1:], starts[1:])
        m += found
        n_pred += len(starts) - 1
        n_true += len(talk.starts) - 1
        per_talk.append(
            {
                "talk": talk.name,
                "minutes": talk.transcript.duration / 60,
                "topics": len(talk.starts),
                "chapters": len(starts),
                "pk": pk,
                "f1": prf(found, len(starts) - 1, len(talk.starts) - 1)[2],
            }
        )
        counts.append((len(talk.starts), len(starts)))
        if titles:
            refs += talk.titles
            hyps += overlap_titles(talk, starts, titles)
    p, r, f = prf(m, n_pred, n_true)
    return {
        "pk": statistics.mean(pks),
        "windowdiff": statistics.mean(wds),
        "precision": p,
        "recall": r,
        "f1": f,
        "true_chapters": sum(a for a, _ in counts),
        "predicted_chapters": sum(b for _, b in counts),
        "title_rouge1": title_rouge(refs, hyps) if hyps else None,
        "per_talk": per_talk,
    }


def summarizer_method(summarizer: ExtractiveSummarizer) -> Segmenter:
    def run(talk: Talk) -> tuple[list[float], list[str]]:
        res = summarizer.run(talk.transcript)
        return [c.start for c in res.summary.chapters], [c.title for c in res.summary.chapters]

    return run


def even_true_count(talk: Talk) -> tuple[list[float], list[str]]:
    d, k = talk.transcript.duration, len(talk.starts)
    return [d * i / k for i in range(k)], []


def every(seconds: float) -> Segmenter:
    def run(talk: Talk) -> tuple[list[float], list[str]]:
        d = talk.transcript.duration
        k = max(1, round(d / seconds))
        return [d * i / k for i in range(k)], []

    return run


def true_chapter_sentences(talk: Talk) -> list[list[str]]:
    """The talk's sentences (as the summarizer splits them) grouped by true chapter: a sentence
    goes to the chapter whose start is nearest its own start."""
    sentences = split_sentences(talk.transcript)
    bounds = [0]
    for t in talk.starts[1:]:
        bounds.append(min(range(len(sentences)), key=lambda i: abs(sentences[i].start - t)))
    bounds.append(len(sentences))
    return [[s.text for s in sentences[a:z]] for a, z in itertools.pairwise(bounds)]


def oracle_titles(talks: Sequence[Talk]) -> dict[str, float]:
    """Title ROUGE-1 of each titling method on the true chapters (titling alone)."""
    refs: list[str] = []
    hyps: dict[str, list[str]] = {"default (subject)": [], "previous default (TF-IDF)": []}
    for talk in talks:
        chapters = true_chapter_sentences(talk)
        refs += talk.titles
        hyps["default (subject)"] += chapter_titles(chapters)
        tfidf = tfidf_phrases([" ".join(c) for c in chapters])
        hyps["previous default (TF-IDF)"] += [make_title(p, 4) for p in tfidf]
    return {name: title_rouge(refs, h) for name, h in hyps.items()}


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--split", choices=("dev", "test", "all"), default="all")
    ap.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    ap.add_argument("--sweep", action="store_true", help="penalty sensitivity table")
    args = ap.parse_args()
    t0 = time.perf_counter()
    encoder = CachedEncoder()
    default = ExtractiveSummarizer(encoder, ExtractiveConfig())
    previous = ExtractiveSummarizer(encoder, ExtractiveConfig.previous())
    summarizers = {"default (extractive)": default, "previous default (TextTiling)": previous}
    methods: dict[str, Segmenter] = {
        **{name: summarizer_method(s) for name, s in summarizers.items()},
        "even split, true count": even_true_count,
        "one chapter per 60 s": every(60.0),
        "one chapter per 120 s": every(120.0),
    }
    splits = ["dev", "test"] if args.split == "all" else [args.split]
    figures: dict[str, Any] = {}
    for split in splits:
        talks = load_talks(split)
        minutes = sum(t.transcript.duration for t in talks) / 60
        n_true = sum(len(t.starts) for t in talks)
        print(
            f"\n## Spoken talks, {split}: {len(talks)} talks, {minutes:.0f} min, "
            f"{n_true} true chapters ({n_true - len(talks)} topic changes)"
        )
        print(
            "| method | Pk | WindowDiff | P@15s | R@15s | F1@15s | chapters found "
            "| title R-1 (end to end) |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        rows = {name: evaluate(talks, method) for name, method in methods.items()}
        for name, r in rows.items():
            title = "-" if r["title_rouge1"] is None else f"{r['title_rouge1']:.1f}"
            print(
                f"| {name} | {r['pk']:.3f} | {r['windowdiff']:.3f} | {r['precision']:.2f} "
                f"| {r['recall']:.2f} | {r['f1']:.2f} | {r['predicted_chapters']} | {title} |"
            )
        print(
            "\n| talk (default) | minutes | topics | chapters found | Pk | F1@15s |"
            "\n|---|---:|---:|---:|---:|---:|"
        )
        for t in rows["default (extractive)"]["per_talk"]:
            print(
                f"| {t['talk']} | {t['minutes']:.1f} | {t['topics']} | {t['chapters']} "
                f"| {t['pk']:.3f} | {t['f1']:.2f} |"
            )
        oracle = oracle_titles(talks)
        print("\n| titles given the true chapters | title R-1 |\n|---|---:|")
        for name, v in oracle.items():
            print(f"| {name} | {v:.1f} |")
        figures[split] = {"rows": rows, "oracle_titles": oracle}
        if args.sweep:
            print("\n| penalty | Pk | F1@15s | chapters found |\n|---:|---:|---:|---:|")
            base = default.config.chapter_penalty
            for factor in (0.5, 0.7, 0.85, 1.0, 1.2, 1.4, 2.0):
                cfg = replace(default.config, chapter_penalty=base * factor)
                r = evaluate(talks, summarizer_method(ExtractiveSummarizer(encoder, cfg)))
                print(
                    f"| {base * factor:.2f} | {r['pk']:.3f} | {r['f1']:.2f} "
                    f"| {r['predicted_chapters']} |"
                )
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
