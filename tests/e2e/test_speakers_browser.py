"""The transcript view of a diarized video in Chromium, under the UI's CSP: segments coloured
and named by speaker, and a rename from the page reaching the transcript and summary.
No skip: without /usr/bin/chromium (`make system-deps` installs it) this test fails."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.serve import vidigest_serve
from tests.support.speakers import diarized_video
from vidigest.app import open_database
from vidigest.config import Settings

pytestmark = pytest.mark.slow


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """`vidigest serve` over a data directory holding one diarized, COMPLETED video."""
    data_dir = tmp_path / "data"
    settings = Settings(data_dir=data_dir)
    open_database(settings, migrate=True).dispose()
    video_id = diarized_video(settings.resolved_database_url)
    with vidigest_serve(data_dir) as base:
        yield base, video_id


def test_transcript_coloured_by_speaker_and_renamed_from_the_page(
    served: tuple[str, str],
) -> None:
    assert CHROMIUM.exists(), "chromium is not installed: run `make system-deps`"
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import expect, sync_playwright

    base, video_id = served
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            problems: list[str] = []
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on(
                "console",
                lambda m: (
                    problems.append(f"console: {m.text}")
                    if m.type == "error" and not m.text.startswith("Failed to load resource")
                    else None
                ),
            )
            page.goto(f"{base}/#/videos/{video_id}")
            segments = page.locator("#transcript li")
            expect(segments).to_have_count(2, timeout=30_000)
            expect(segments.nth(0)).to_have_class("spk spk-0")
            expect(segments.nth(1)).to_have_class("spk spk-1")
            expect(segments.nth(0).locator(".speaker-name")).to_have_text("Speaker 1")
            colours = [
                segment.evaluate("e => getComputedStyle(e).borderLeftColor")
                for segment in (segments.nth(0), segments.nth(1))
            ]
            assert colours[0] != colours[1], colours
            expect(page.locator("#key-points")).to_contain_text("Speaker 2: Thanks")

            page.get_by_label("Name of Speaker 2").fill("Grace")
            page.locator("#speakers li").nth(1).get_by_role("button", name="Rename").click()
            expect(page.locator("#speakers-message")).to_contain_text("Name saved")
            expect(segments.nth(1).locator(".speaker-name")).to_have_text("Grace")
            expect(page.locator("#key-points")).to_contain_text("Grace: Thanks")
            srt = httpx.get(f"{base}/videos/{video_id}/transcript?format=srt").text
            assert "Grace: Thanks for having me." in srt
            assert problems == [], problems
        finally:
            browser.close()
