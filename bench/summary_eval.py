"""Summary quality of the default (extractive) summarizer against baselines, in one run.

    python bench/summary_eval.py [--split test|val] [--papers 100] [--stitched 20] [--seed 0]
                                 [--abstracts-only] [--smoke] [--json F]

Tune on `--split val` (ACLSum's 50 validation papers); `test` (the default, 100 papers) is the
held-out figure in docs/benchmarks.md.

1. Abstracts. ACLSum (PyPI `aclsum` 0.1.2; its import fails, so the JSONL files are read from
   the installed package): the first `--papers` papers of the split, input = introduction +
   conclusion, reference = the three aspect summaries (challenge, approach, outcome). The text
   becomes a Transcript with synthetic times (2.5 words/s, 11-word segments cutting across
   sentences, as Whisper delivers them), the real summarizer runs on it with a 3-sentence
   abstract, and ROUGE-1/2/Lsum F1 (`rouge-score`, Porter stemming) is compared with lead-3 (the
   first three sentences) and with the previous default (embedding centrality alone,
   `lexical_weight=0`). Also: how often a key point repeats an abstract sentence, and the ROUGE-1
   recall of abstract + key points together, with and without the abstract-aware key point
   choice.
2. Chapters. `--stitched` texts, each 3-5 different papers (introduction + conclusion) joined
   end to end, so the true topic changes are known. Scored over words: Pk and WindowDiff
   (k = half the mean true chapter length; lower is better) and the distance in seconds from
   each true change to the nearest predicted one and back (median per text, then the mean),
   against the previous default segmentation (TextTiling with a permutation test) and
   fixed-length splits: even spacing into the true number of chapters (the count told), into the
   number the summarizer chose, and one chapter every 60 s.

Prints ratios against the baselines measured in the same run.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import re
import statistics
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from vidigest.common.types import Segment, Transcript
from vidigest.embedding.encoder import SentenceEncoder
from vidigest.modules.summary.extractive import (
    ExtractiveConfig,
    ExtractiveResult,
    ExtractiveSummarizer,
)

WORDS_PER_SECOND = 2.5
SEGMENT_WORDS = 11
ASPECTS = ("challenge", "approach", "outcome")


# --- data ---------------------------------------------------------------------------------------


def aclsum_rows(split: str) -> list[dict[str, Any]]:
    spec = importlib.util.find_spec("aclsum")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("aclsum is not installed: pip install aclsum==0.1.2 rouge-score")
    path = Path(next(iter(spec.submodule_search_locations))) / "dataset" / f"{split}.jsonl"
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


_SPACE_BEFORE = re.compile(r" ([.,;:!?)\]%'])")
_SPACE_AFTER = re.compile(r"([(\[]) ")


def detokenize(sentence: str) -> str:
    """ACLSum sentences are tokenized ("systems ( MT ) ."); join them back as written text."""
    s = _SPACE_AFTER.sub(r"\1", _SPACE_BEFORE.sub(r"\1", sentence.strip()))
    return s.replace(" n't", "n't").replace("`` ", '"').replace(" ''", '"')


@dataclass(frozen=True)
class Paper:
    id: str
    sentences: list[str]
    reference: list[str]  # one aspect summary per line


def papers(rows: list[dict[str, Any]]) -> list[Paper]:
    out = []
    for r in rows:
        sents = [
            detokenize(s) for sec in ("introduction", "conclusion") for s in r["sentences"][sec]
        ]
        sents = [s for s in sents if s]
        out.append(Paper(r["id"], sents, [r["summary"][a].strip() for a in ASPECTS]))
    return out


@dataclass(frozen=True)
class Spoken:
    transcript: Transcript
    word_times: list[float]  # start time of every word, in order
    word_doc: list[int]  # which stitched document each word belongs to
    doc_starts: list[float]  # time each document starts


def speak(docs: list[list[str]], pause: float = 1.0) -> Spoken:
    """Documents (lists of sentences) read one after another at WORDS_PER_SECOND, with a pause
    between documents; Whisper-like segments of SEGMENT_WORDS words, no word timestamps."""
    timed: list[tuple[str, float, float]] = []
    word_doc: list[int] = []
    doc_starts: list[float] = []
    t = 0.5
    for d, sentences in enumerate(docs):
        doc_starts.append(t)
        for tok in (tok for s in sentences for tok in s.split()):
            dur = (len(tok) + 1) / 6.0 / WORDS_PER_SECOND
            timed.append((tok, t, t + 0.85 * dur))
            word_doc.append(d)
            t += dur
        t += pause
    segments = []
    for k in range(0, len(timed), SEGMENT_WORDS):
        chunk = timed[k : k + SEGMENT_WORDS]
        segments.append(
            Segment(
                index=len(segments),
                start=chunk[0][1],
                end=chunk[-1][2],
                text=" " + " ".join(w for w, _, _ in chunk),
            )
        )
    transcript = Transcript(
        language="en", duration=timed[-1][2] + 0.5, model="synthetic", segments=tuple(segments)
    )
    return Spoken(transcript, [a for _, a, _ in timed], word_doc, doc_starts)


class CachedEncoder(SentenceEncoder):
    """The same MiniLM encoder, remembering sentences it has embedded (papers recur in the
    stitched texts, and every configuration re-embeds the same text)."""

    def __init__(self) -> None:
        super().__init__()
        self.cache: dict[str, np.ndarray[Any, np.dtype[np.float32]]] = {}

    def encode(self, sentences: Any, batch_size: int = 32) -> Any:
        missing = [s for s in dict.fromkeys(sentences) if s not in self.cache]
        if missing:
            for s, v in zip(missing, super().encode(missing, batch_size), strict=True):
                self.cache[s] = v
        if not sentences:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self.cache[s] for s in sentences])


# --- 1. abstracts -------------------------------------------------------------------------------


def rouge_eval(corpus: list[Paper], summarizers: dict[str, ExtractiveSummarizer]) -> dict[str, Any]:
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeLsum"], use_stemmer=True)
    recall1 = rouge_scorer.RougeScorer(["rouge1"], use_stemmer=True)
    names = ["lead-3", *summarizers]
    scores: dict[str, list[tuple[float, float, float]]] = {n: [] for n in names}
    repeats: dict[str, list[float]] = {n: [] for n in summarizers}
    union_recall: dict[str, list[float]] = {n: [] for n in summarizers}
    seconds: dict[str, float] = dict.fromkeys(summarizers, 0.0)
    n_words: list[int] = []
    for paper in corpus:
        reference = "\n".join(paper.reference)
        outputs = {"lead-3": paper.sentences[:3]}
        spoken = speak([paper.sentences])
        n_words.append(len(spoken.word_times))
        for name, summarizer in summarizers.items():
            t0 = time.perf_counter()
            res = summarizer.run(spoken.transcript)
            seconds[name] += time.perf_counter() - t0
            outputs[name] = [res.sentences[i].text for i in res.abstract_idx]
            kp = set(res.key_point_idx)
            repeats[name].append(len(kp & set(res.abstract_idx)) / max(len(kp), 1))
            both = [res.sentences[i].text for i in sorted(kp | set(res.abstract_idx))]
            union_recall[name].append(recall1.score(reference, "\n".join(both))["rouge1"].recall)
        for name, sents in outputs.items():
            s = scorer.score(reference, "\n".join(sents))
            scores[name].append(
                (s["rouge1"].fmeasure, s["rouge2"].fmeasure, s["rougeLsum"].fmeasure)
            )
    means = {
        n: tuple(100 * float(np.mean([x[j] for x in v])) for j in range(3))
        for n, v in scores.items()
    }
    return {
        "papers": len(corpus),
        "mean_words": statistics.mean(n_words),
        "rouge": means,
        "repeats": {n: 100 * float(np.mean(v)) for n, v in repeats.items()},
        "union_recall": {n: 100 * float(np.mean(v)) for n, v in union_recall.items()},
        "seconds": {n: v / len(corpus) for n, v in seconds.items()},
    }


# --- 2. chapters --------------------------------------------------------------------------------


def labels_from_starts(word_times: list[float], starts: list[float]) -> list[int]:
    """Chapter number of each word, given chapter start times (first at 0)."""
    out, c = [], 0
    for t in word_times:
        while c + 1 < len(starts) and t >= starts[c + 1] - 1e-6:
            c += 1
        out.append(c)
    return out


def pk_windowdiff(ref: list[int], hyp: list[int], k: int) -> tuple[float, float]:
    """Pk (Beeferman et al.) and WindowDiff (Pevzner & Hearst) over label sequences."""
    r, h = np.asarray(ref), np.asarray(hyp)
    rb = np.concatenate([[0], np.cumsum(r[1:] != r[:-1])])  # boundaries before each position
    hb = np.concatenate([[0], np.cumsum(h[1:] != h[:-1])])
    r_n = rb[k:] - rb[:-k]
    h_n = hb[k:] - hb[:-k]
    pk = float(np.mean((r_n > 0) != (h_n > 0)))
    wd = float(np.mean(r_n != h_n))
    return pk, wd


def boundary_distance(from_b: list[float], to_b: list[float], duration: float) -> float:
    """Median seconds from each boundary in `from_b` to the nearest in `to_b` (none: the ends).

    True -> predicted measures misses, predicted -> true measures spurious breaks."""
    if not from_b:
        return 0.0
    cands = to_b or [0.0, duration]
    return float(np.median([min(abs(t - p) for p in cands) for t in from_b]))


def even_starts(duration: float, k: int) -> list[float]:
    return [duration * i / k for i in range(max(k, 1))]


def chapter_eval(
    corpus: list[Paper],
    n_texts: int,
    seed: int,
    summarizer: ExtractiveSummarizer,
    previous: ExtractiveSummarizer | None = None,
) -> dict[str, Any]:
    rng = random.Random(seed)
    rows: dict[str, list[tuple[float, float, float, float]]] = {}
    true_counts: list[int] = []
    pred_counts: list[int] = []
    words: list[int] = []
    secs = 0.0
    for _ in range(n_texts):
        docs = [p.sentences for p in rng.sample(corpus, rng.randint(3, 5))]
        spoken = speak(docs)
        duration = spoken.transcript.duration
        t0 = time.perf_counter()
        res: ExtractiveResult = summarizer.run(spoken.transcript)
        secs += time.perf_counter() - t0
        predicted = [c.start for c in res.summary.chapters]
        n_true = len(docs)
        words.append(len(spoken.word_times))
        true_counts.append(n_true)
        pred_counts.append(len(predicted))
        ref = spoken.word_doc
        k = max(2, round(len(ref) / n_true / 2))
        variants = {"default (extractive)": predicted}
        if previous is not None:
            variants["previous default (TextTiling)"] = [
                c.start for c in previous.run(spoken.transcript).summary.chapters
            ]
        variants |= {
            "even split, true count": even_starts(duration, n_true),
            "even split, default's count": even_starts(duration, len(predicted)),
            "one chapter per 60 s": even_starts(duration, max(1, round(duration / 60))),
        }
        true_b = spoken.doc_starts[1:]
        for name, starts in variants.items():
            pk, wd = pk_windowdiff(ref, labels_from_starts(spoken.word_times, starts), k)
            miss = boundary_distance(true_b, starts[1:], duration)
            spurious = boundary_distance(starts[1:], true_b, duration)
            rows.setdefault(name, []).append((pk, wd, miss, spurious))
    return {
        "texts": n_texts,
        "mean_words": statistics.mean(words),
        "true_chapters": sum(true_counts),
        "predicted_chapters": sum(pred_counts),
        "exact_count": sum(a == b for a, b in zip(true_counts, pred_counts, strict=True)),
        "scores": {
            n: tuple(float(np.mean([x[j] for x in v])) for j in range(4)) for n, v in rows.items()
        },
        "seconds": secs / n_texts,
    }


# --- main ---------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--split", choices=("test", "val"), default="test", help="ACLSum split (val: tuning)"
    )
    ap.add_argument("--papers", type=int, default=100, help="ACLSum papers (test 100, val 50)")
    ap.add_argument("--abstracts-only", action="store_true", help="skip the chapter benchmark")
    ap.add_argument("--stitched", type=int, default=20, help="stitched multi-topic texts")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--smoke", action="store_true", help="tiny run: 4 papers, 2 stitched texts")
    ap.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = ap.parse_args()
    if args.smoke:
        args.papers, args.stitched = 4, 2

    corpus = papers(aclsum_rows(args.split))[: args.papers]
    encoder = CachedEncoder()
    base = ExtractiveConfig(abstract_sentences=3)
    summarizers = {
        "default (extractive)": ExtractiveSummarizer(encoder, base),
        "key points not abstract-aware": ExtractiveSummarizer(
            encoder, replace(base, key_points_avoid_abstract=False)
        ),
        "previous default (embedding centrality)": ExtractiveSummarizer(
            encoder, replace(base, lexical_weight=0.0)
        ),
    }
    t0 = time.perf_counter()
    r = rouge_eval(corpus, summarizers)
    print(
        f"\n## Abstracts: ACLSum {args.split}, {r['papers']} papers, "
        f"{r['mean_words']:.0f} words each (introduction + conclusion), 3 sentences out"
    )
    print("| method | R-1 | R-2 | R-Lsum | ratio R-1 / R-2 / R-Lsum vs lead-3 |")
    print("|---|---:|---:|---:|---:|")
    lead = r["rouge"]["lead-3"]
    for name in ("lead-3", "previous default (embedding centrality)", "default (extractive)"):
        v = r["rouge"][name]
        ratios = " / ".join(f"{a / b:.2f}" for a, b in zip(v, lead, strict=True))
        print(f"| {name} | {v[0]:.1f} | {v[1]:.1f} | {v[2]:.1f} | {ratios} |")
    print(
        "\n| key point choice | key points repeating an abstract sentence "
        "| R-1 recall, abstract + key points |"
    )
    print("|---|---:|---:|")
    for name in summarizers:
        print(f"| {name} | {r['repeats'][name]:.1f} % | {r['union_recall'][name]:.1f} |")
    print(f"summarizer time per paper: {r['seconds']['default (extractive)']:.2f} s")
    if args.abstracts_only:
        if args.json:
            args.json.write_text(json.dumps({"split": args.split, "abstracts": r}, indent=2) + "\n")
        return

    previous = ExtractiveSummarizer(encoder, ExtractiveConfig.previous(abstract_sentences=3))
    c = chapter_eval(
        corpus, args.stitched, args.seed, summarizers["default (extractive)"], previous
    )
    print(
        f"\n## Chapters: {c['texts']} stitched texts, {c['mean_words']:.0f} words each, "
        f"{c['true_chapters']} true chapters; the default found {c['predicted_chapters']} "
        f"(exact count in {c['exact_count']} of {c['texts']})"
    )
    print(
        "| segmentation | Pk | WindowDiff | true change -> nearest predicted, s "
        "| predicted -> nearest true, s | Pk ratio vs even split, true count |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    ref_pk = c["scores"]["even split, true count"][0]
    for name, (pk, wd, miss, spurious) in c["scores"].items():
        print(f"| {name} | {pk:.3f} | {wd:.3f} | {miss:.1f} | {spurious:.1f} | {pk / ref_pk:.2f} |")
    print(f"summarizer time per stitched text: {c['seconds']:.2f} s (embeddings cached)")
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    if args.json:
        args.json.write_text(
            json.dumps({"split": args.split, "abstracts": r, "chapters": c}, indent=2) + "\n"
        )


if __name__ == "__main__":
    main()
