"""Transcript documents for people to read: DOCX (python-docx) and PDF (fpdf2, no browser).

One paragraph per segment: its start time, the speaker where the transcript is diarized (by the
name shown now), the text as last corrected. The PDF embeds DejaVu Sans (Debian
`fonts-dejavu-core`), so accented, Greek and Cyrillic letters render; long words wrap.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from vidigest.common.exceptions import ConfigurationError
from vidigest.common.types import Transcript
from vidigest.modules.speakers.naming import display_name, shown_names

DocumentFormat = Literal["docx", "pdf"]
DOCUMENT_TYPES: dict[str, str] = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pdf": "application/pdf",
}

# Where the PDF's font is looked for: Debian's fonts-dejavu-core first.
FONT_DIRS: tuple[Path, ...] = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/local/share/fonts/dejavu"),
)
FONT_REGULAR = "DejaVuSans.ttf"
FONT_BOLD = "DejaVuSans-Bold.ttf"

# XML 1.0 refuses these characters (DOCX is XML); the PDF has no use for them either
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class DocumentError(ConfigurationError):
    """A document cannot be made on this server (its font is not installed)."""


def _clean(text: str) -> str:
    return _CONTROL.sub("", " ".join(text.split()))


def clock(seconds: float) -> str:
    """H:MM:SS (or M:SS under an hour)."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def lines(t: Transcript) -> Iterator[tuple[str, str | None, str]]:
    """(start time, the speaker's name where it changes or None, text) of each segment with
    text."""
    names = shown_names(t)
    previous: str | None = None
    for s in t.segments:
        text = _clean(s.text)
        if not text:
            continue
        speaker = display_name(s.speaker, names) if names else None
        shown = _clean(speaker) if speaker is not None and s.speaker != previous else None
        previous = s.speaker
        yield clock(s.start), shown, text


def _subtitle(t: Transcript) -> str:
    return f"Transcript · {clock(t.duration)} · language: {t.language}"


def to_docx(t: Transcript, title: str) -> bytes:
    from docx import Document
    from docx.shared import Pt, RGBColor

    doc = Document()
    doc.core_properties.title = _clean(title)[:255]
    doc.add_heading(_clean(title) or "Transcript", level=1)
    doc.add_paragraph(_subtitle(t))
    for start, speaker, text in lines(t):
        paragraph = doc.add_paragraph()
        stamp = paragraph.add_run(f"[{start}] ")
        stamp.font.color.rgb = RGBColor(0x66, 0x66, 0x66)
        stamp.font.size = Pt(9)
        if speaker:
            paragraph.add_run(f"{speaker}: ").bold = True
        paragraph.add_run(text)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def font_files() -> tuple[Path, Path]:
    """(regular, bold) DejaVu Sans; DocumentError naming the package when missing."""
    for folder in FONT_DIRS:
        regular, bold = folder / FONT_REGULAR, folder / FONT_BOLD
        if regular.is_file() and bold.is_file():
            return regular, bold
    raise DocumentError("PDF export needs the DejaVu Sans font (Debian package fonts-dejavu-core)")


def to_pdf(t: Transcript, title: str) -> bytes:
    from fpdf import FPDF

    regular, bold = font_files()
    pdf = FPDF(format="A4")
    pdf.set_title(_clean(title)[:255])
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_font("DejaVu", "", str(regular))
    pdf.add_font("DejaVu", "B", str(bold))
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 15)
    pdf.multi_cell(0, 8, _clean(title) or "Transcript", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 9)
    pdf.set_text_color(100, 100, 100)
    pdf.multi_cell(0, 6, _subtitle(t), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    for start, speaker, text in lines(t):
        pdf.set_text_color(100, 100, 100)
        pdf.set_font("DejaVu", "", 8)
        pdf.multi_cell(0, 4.5, start, new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0, 0, 0)
        if speaker:
            pdf.set_font("DejaVu", "B", 11)
            pdf.multi_cell(0, 5.5, speaker, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("DejaVu", "", 11)
        pdf.multi_cell(0, 5.5, text, align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1.5)
    return bytes(pdf.output())


def document(t: Transcript, fmt: DocumentFormat, title: str) -> bytes:
    """The transcript as a DOCX or PDF file titled `title` (the video's name)."""
    if fmt == "docx":
        return to_docx(t, title)
    return to_pdf(t, title)
