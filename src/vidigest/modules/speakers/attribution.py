"""Who said the key points and who talks in each chapter.

The summary step stores speaker *labels* (`attribute_speakers`); whoever reads a summary back
shows the names the speakers have now (`name_summary`), so a rename after the summary was made
flows into it like into every other export.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from vidigest.common.types import Segment, Summary
from vidigest.modules.speakers.naming import default_name, labels_between


def attribute_speakers(summary: Summary, segments: Sequence[Segment]) -> Summary:
    """The summary with the label of who talks most in each key point's span and the labels of
    who talks in each chapter (most talk time first). A transcript without speakers: the
    summary as it was."""
    if not any(s.speaker is not None for s in segments):
        return summary
    key_points = tuple(
        k.model_copy(update={"speaker": next(iter(labels_between(segments, k.start, k.end)), None)})
        for k in summary.key_points
    )
    chapters = tuple(
        c.model_copy(update={"speakers": labels_between(segments, c.start, c.end)})
        for c in summary.chapters
    )
    return summary.model_copy(update={"key_points": key_points, "chapters": chapters})


def name_summary(summary: Summary, names: Mapping[str, str]) -> Summary:
    """Labels replaced by display names (`names`: label -> name; else "Speaker N")."""

    def shown(label: str) -> str:
        return names.get(label) or default_name(label)

    if not any(k.speaker for k in summary.key_points) and not any(
        c.speakers for c in summary.chapters
    ):
        return summary
    key_points = tuple(
        k.model_copy(update={"speaker": shown(k.speaker)}) if k.speaker else k
        for k in summary.key_points
    )
    chapters = tuple(
        c.model_copy(update={"speakers": tuple(dict.fromkeys(shown(x) for x in c.speakers))})
        for c in summary.chapters
    )
    return summary.model_copy(update={"key_points": key_points, "chapters": chapters})
