"""Quality gate of the default summarizer: `bench/summary_eval.py` (the run whose figures are in
docs/benchmarks.md#summaries: 100 ACLSum papers, 20 stitched texts; ~6 min) and
`bench/chapters_spoken.py` (13 narrated talks, transcripts committed; ~1 min), against baselines
and the previous default measured in the same runs.

Real data with human references (ACLSum, from the PyPI package `aclsum`) and talks transcribed
by the real pipeline, through the real summarizer. The runs are deterministic; the gates sit
below what they measure (R-1 37.7 = 1.37x lead-3, R-2 1.80x, stitched Pk 0.080 = 0.20x an
even split; spoken boundary F1 0.95 / 0.95 on dev / held-out talks) with room for float
differences between machines, so a real regression fails. A 30-paper subset was too close to
call (R-1 1.19x): lead-3 is strong there.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.slow]

BENCH = Path(__file__).resolve().parents[2] / "bench" / "summary_eval.py"


@pytest.fixture(scope="module")
def figures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("summary_eval") / "figures.json"
    result = subprocess.run(
        [sys.executable, str(BENCH), "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| lead-3 |" in result.stdout and "| even split, true count |" in result.stdout
    figures: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return figures


def test_abstract_beats_lead_3(figures: dict[str, Any]) -> None:
    """Measured on the 100 test papers: R-1 / R-2 / R-Lsum 37.7 / 11.1 / 31.4 against lead-3's
    27.6 / 6.2 / 23.1 and embedding centrality alone (the previous default) 35.9 / 9.1 / 29.3.
    R-1 >= 37 is the issue's target; lexical_weight was chosen on the validation papers only."""
    rouge = figures["abstracts"]["rouge"]
    lead, ours = rouge["lead-3"], rouge["default (extractive)"]
    previous = rouge["previous default (embedding centrality)"]
    assert figures["split"] == "test" and figures["abstracts"]["papers"] == 100
    assert ours[0] >= 37.0, rouge  # ROUGE-1
    assert ours[0] >= 1.3 * lead[0], rouge
    assert ours[1] >= 1.6 * lead[1], rouge  # ROUGE-2
    assert ours[2] >= 1.3 * lead[2], rouge  # ROUGE-Lsum
    assert ours[0] >= previous[0] + 1.0 and ours[1] >= previous[1] + 1.0, rouge


def test_key_points_add_to_the_abstract(figures: dict[str, Any]) -> None:
    a = figures["abstracts"]
    assert a["repeats"]["default (extractive)"] == 0.0
    assert a["repeats"]["key points not abstract-aware"] > 10.0  # the problem it solves
    assert (
        a["union_recall"]["default (extractive)"]
        > a["union_recall"]["key points not abstract-aware"]
    )


def test_chapters_beat_fixed_length_splits(figures: dict[str, Any]) -> None:
    scores = figures["chapters"]["scores"]
    ours = scores["default (extractive)"]
    for baseline in ("even split, true count", "even split, default's count"):
        assert ours[0] <= 0.6 * scores[baseline][0], scores  # Pk
        assert ours[1] <= 0.6 * scores[baseline][1], scores  # WindowDiff
    assert ours[2] < scores["even split, true count"][2], scores  # closer to each true change
    # the count chosen automatically (measured 0.080; the previous default 0.131, and 0.151
    # before whole sentences were kept together)
    assert ours[0] <= 0.10, scores
    assert ours[0] <= 0.8 * scores["previous default (TextTiling)"][0], scores


# --- the spoken chapter benchmark ---------------------------------------------------------------

SPOKEN = BENCH.parent / "chapters_spoken.py"


@pytest.fixture(scope="module")
def spoken(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """bench/chapters_spoken.py on the committed talk transcripts (no ASR; ~1 min)."""
    out = tmp_path_factory.mktemp("chapters_spoken") / "figures.json"
    result = subprocess.run(
        [sys.executable, str(SPOKEN), "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return figures


@pytest.mark.parametrize("split", ["dev", "test"])
def test_spoken_chapters_find_the_topic_changes(spoken: dict[str, Any], split: str) -> None:
    """Measured: dev F1 0.95 / Pk 0.050, held-out F1 0.95 / Pk 0.085, every predicted change
    within 15 s of a true one; the previous default 0.75 / 0.74, Pk 0.187 / 0.186. F1 >= 0.90
    (the issue's target) allows two more missed changes of 51 on the held-out talks."""
    rows = spoken[split]["rows"]
    ours, previous = rows["default (extractive)"], rows["previous default (TextTiling)"]
    assert ours["f1"] >= 0.90, ours
    assert ours["pk"] <= 0.11, ours
    assert ours["precision"] >= 0.9, ours
    assert ours["f1"] >= previous["f1"] + 0.10, (ours, previous)
    for baseline in ("even split, true count", "one chapter per 60 s", "one chapter per 120 s"):
        assert ours["pk"] <= 0.5 * rows[baseline]["pk"], (ours, rows[baseline])
        assert ours["f1"] > rows[baseline]["f1"], (ours, rows[baseline])


def test_a_half_hour_talk_gets_its_twenty_chapters(spoken: dict[str, Any]) -> None:
    """The long held-out talk (29.6 min, 20 topics of about 90 s): measured 20 chapters, every
    topic change found within 15 s (F1 1.00, Pk 0.012). The minimum chapter length scales with
    the video (duration / 30 = 59 s here), so it must not merge neighbouring topics."""
    talks = spoken["test"]["rows"]["default (extractive)"]["per_talk"]
    long = next(t for t in talks if t["talk"] == "test-20")
    assert long["minutes"] >= 25 and long["topics"] >= 10, long
    assert long["f1"] >= 0.90, long
    assert abs(long["chapters"] - long["topics"]) <= 2, long
    assert long["pk"] <= 0.10, long


@pytest.mark.parametrize("split", ["dev", "test"])
def test_spoken_chapter_titles_beat_the_previous_ones(spoken: dict[str, Any], split: str) -> None:
    """Title ROUGE-1 against the narrations' headings. Measured given the true chapters: 28.3 /
    31.2 (dev / held-out) against 25.1 / 28.6 for the previous TF-IDF titles; end to end 26.6 /
    29.7 against 19.6 / 21.3."""
    oracle = spoken[split]["oracle_titles"]
    assert oracle["default (subject)"] >= oracle["previous default (TF-IDF)"] + 1.5, oracle
    rows = spoken[split]["rows"]
    ours = rows["default (extractive)"]["title_rouge1"]
    assert ours >= rows["previous default (TextTiling)"]["title_rouge1"] + 5.0, rows
    assert ours >= 25.0, ours
