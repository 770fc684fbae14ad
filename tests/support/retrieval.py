"""Paraphrased questions with a known answer, for the retrieval benchmark (bench/retrieval.py)
and the search tests: each question's right passages are those holding most words of the
sentence that answers it (its `anchor`), whatever words the transcript spells differently."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

QUERIES = Path(__file__).resolve().parents[2] / "bench" / "data" / "retrieval_queries.json"
ANCHOR_SHARE = 0.75  # of an anchor's words a passage must hold to be a right answer

# hybrid must find the right passage in its top 5 this much more often than keyword search on
# the sample talk's paraphrased questions, searched alone: bench/retrieval.py measures +0.333
# there (12 questions: keyword 8, hybrid 12); the margin leaves room for one question, not for
# losing the gain
HYBRID_MARGIN_AT_5 = 0.25

_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class Question:
    query: str
    anchor: str


def load_questions(part: str) -> list[Question]:
    """The questions of `part` ("talks" or "sample")."""
    data = json.loads(QUERIES.read_text(encoding="utf-8"))
    return [Question(q["query"], q["anchor"]) for q in data[part]]


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def answers(anchor: str, text: str) -> bool:
    """Whether `text` holds at least ANCHOR_SHARE of the anchor's words."""
    wanted = set(words(anchor))
    return len(wanted & set(words(text))) >= ANCHOR_SHARE * len(wanted)


def first_rank(found: Sequence[object], right: set[object]) -> int | None:
    """1-based rank of the first right item in `found`, None if none is."""
    for rank, item in enumerate(found, start=1):
        if item in right:
            return rank
    return None


def recall_at(ranks: Iterable[int | None], k: int) -> float:
    ranks = list(ranks)
    return sum(1 for r in ranks if r is not None and r <= k) / max(1, len(ranks))


def mean_reciprocal_rank(ranks: Iterable[int | None]) -> float:
    ranks = list(ranks)
    return sum(1.0 / r for r in ranks if r is not None) / max(1, len(ranks))
