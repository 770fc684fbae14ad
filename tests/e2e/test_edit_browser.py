"""Correcting a transcript in the web UI, in the Debian chromium driven by Playwright against
`vidigest serve` (embedded: its runner makes the summary again): edit a segment in place, a
stale edit shows "changed elsewhere", find and replace with a preview; search and the summary
follow; DOCX and PDF links answer documents. In a video with speakers, a segment that has none
keeps none when only its text is corrected; two quick corrections of one segment both save.

No skip: without /usr/bin/chromium (`make system-deps` installs it) this test fails.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, serve
from tests.support.paths import SAMPLES
from tests.support.serve import vidigest_serve
from tests.support.speakers import diarized_video
from vidigest.app import open_database
from vidigest.config import Settings

pytestmark = pytest.mark.slow

CLIP = SAMPLES / "librivox_speech.mp4"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    with serve(tmp_path) as base:
        yield base


UNATTRIBUTED = "Applause fills the hall."


@pytest.fixture
def diarized(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """`vidigest serve` over a data directory holding one COMPLETED video with two speakers
    whose third segment has no speaker."""
    data_dir = tmp_path / "data"
    settings = Settings(data_dir=data_dir)
    open_database(settings, migrate=True).dispose()
    video_id = diarized_video(settings.resolved_database_url, unattributed=UNATTRIBUTED)
    with vidigest_serve(data_dir) as base:
        yield base, video_id


def test_correct_a_transcript_in_chromium(server: str) -> None:
    assert CHROMIUM.exists(), "chromium is not installed: run `make system-deps`"
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(server + "/")
            page.get_by_label("Choose a file").set_input_files(str(CLIP))
            row = page.locator("#video-rows tr", has_text=CLIP.name)
            expect(row).to_have_attribute("data-status", "COMPLETED", timeout=240_000)
            row.get_by_role("link", name=CLIP.name).click()
            segments = page.locator("#transcript > li")
            expect(segments.first).to_be_visible(timeout=30_000)
            video_id = page.url.rsplit("/", 1)[-1].split("?")[0]

            # DOCX and PDF beside the other downloads
            for fmt, kind in (
                ("DOCX", "application/vnd.openxmlformats"),
                ("PDF", "application/pdf"),
            ):
                href = page.get_by_role("link", name=fmt, exact=True).get_attribute("href")
                assert href is not None
                assert httpx.get(server + href, timeout=60).headers["content-type"].startswith(kind)

            # edit a segment in place: Enter saves
            page.get_by_role("button", name="Correct").click()
            segments.first.locator("button").click()
            editor = segments.first.locator("input.segment-text")
            expect(editor).to_be_focused()
            editor.fill("The zeppelin landed in Barton valley.")
            editor.press("Enter")
            expect(segments.first).to_contain_text("The zeppelin landed in Barton valley.")
            expect(page.locator("#edit-message")).to_contain_text(
                "summary is up to date", timeout=120_000
            )
            # Esc cancels
            listed = httpx.get(f"{server}/videos/{video_id}/segments", timeout=60).json()[
                "segments"
            ]
            segments.nth(1).locator("button").click()
            segments.nth(1).locator("input.segment-text").fill("never saved")
            segments.nth(1).locator("input.segment-text").press("Escape")
            expect(segments.nth(1).locator("input.segment-text")).to_have_count(0)
            expect(segments.nth(1).locator("button")).to_contain_text(listed[1]["text"].strip())
            assert listed[0]["text"] == "The zeppelin landed in Barton valley."

            # someone else changes segment 1: this page's edit is refused, the text stays
            other = httpx.patch(
                f"{server}/videos/{video_id}/segments/1",
                json={"version": listed[1]["version"], "text": "Edited in another tab."},
                timeout=60,
            )
            assert other.status_code == 200, other.text
            segments.nth(1).locator("button").click()
            segments.nth(1).locator("input.segment-text").fill("My own correction.")
            segments.nth(1).locator("input.segment-text").press("Enter")
            expect(segments.nth(1).locator(".segment-note")).to_contain_text("Changed elsewhere")
            expect(segments.nth(1).locator("input.segment-text")).to_have_value(
                "My own correction."
            )
            segments.nth(1).get_by_role("button", name="Reload").click()
            expect(segments.nth(1)).to_contain_text("Edited in another tab.")

            # find and replace a word the summary uses, everywhere: preview, then apply
            expect(page.locator("#edit-message")).to_contain_text(
                "summary is up to date", timeout=120_000
            )
            abstract = page.locator("#abstract").inner_text()
            word = next(w for w in re.findall(r"[A-Za-z]{6,}", abstract))
            page.get_by_label("Find").fill(word)
            page.get_by_label("Replace with").fill("quixotic")
            page.get_by_label("Whole words").check()
            page.get_by_role("button", name="Preview").click()
            expect(page.locator("#edit-message")).to_contain_text("occurrence(s)")
            expect(page.locator("#replace-preview li").first).to_contain_text("quixotic")
            page.get_by_role("button", name="Replace all").click()
            expect(page.locator("#edit-message")).to_contain_text(
                "summary is up to date", timeout=120_000
            )
            summary_now = page.locator(".text-column section").first.inner_text()
            assert not re.search(rf"\b{word}\b", summary_now, re.IGNORECASE), (word, summary_now)
            assert "quixotic" in summary_now.lower() or "zeppelin" in summary_now.lower()

            page.get_by_role("button", name="Correct").click()  # seeking again
            page.screenshot(path=str(ARTIFACTS / "ui-edit.png"))

            # search follows: the new words are found, the old one is not
            page.get_by_label("Search transcripts").fill("zeppelin")
            page.get_by_role("button", name="Search").click()
            expect(page.locator("#search-results li").first).to_contain_text("zeppelin")
            page.get_by_label("Search transcripts").fill(word)
            page.get_by_role("button", name="Search").click()
            expect(page.locator("#search-summary")).to_contain_text("Nothing found")
            assert errors == [], errors
        finally:
            browser.close()


def test_a_text_correction_leaves_a_segment_without_speaker_so(
    diarized: tuple[str, str],
) -> None:
    assert CHROMIUM.exists(), "chromium is not installed: run `make system-deps`"
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import expect, sync_playwright

    base, video_id = diarized
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{base}/#/videos/{video_id}")
            segments = page.locator("#transcript > li")
            expect(segments).to_have_count(3, timeout=30_000)
            page.get_by_role("button", name="Correct").click()

            # the segment without speaker: the choice starts at "no speaker", a text-only save
            # sends none
            segments.nth(2).locator("button").click()
            speaker = segments.nth(2).get_by_label("Speaker of segment 3")
            expect(speaker).to_have_value("")
            expect(speaker.locator("option:checked")).to_have_text("No speaker (unchanged)")
            segments.nth(2).locator("input.segment-text").fill("Loud applause fills the hall.")
            segments.nth(2).locator("input.segment-text").press("Enter")
            expect(page.locator("#edit-message")).to_contain_text("Saved.")
            expect(segments.nth(2)).to_contain_text("Loud applause fills the hall.")
            history = httpx.get(f"{base}/videos/{video_id}/segments/2/history").json()
            assert [(v["text"].strip(), v["speaker"]) for v in history["versions"]] == [
                (UNATTRIBUTED, None),
                ("Loud applause fills the hall.", None),
            ]

            # a segment with a speaker still opens on it
            segments.nth(1).locator("button").click()
            expect(segments.nth(1).get_by_label("Speaker of segment 2")).to_have_value("SPEAKER_2")
            expect(segments.nth(1).locator("option[value='']")).to_have_count(0)
            segments.nth(1).locator("input.segment-text").press("Escape")
            assert errors == [], errors
        finally:
            browser.close()


def test_two_quick_corrections_of_one_segment_both_save(diarized: tuple[str, str]) -> None:
    """The second edit follows the first as soon as the transcript is redrawn, on a slow
    network (Chromium's own throttling: each request waits 600 ms), so the page has not yet
    fetched the segments' versions again: it must still send the version the first save made."""
    assert CHROMIUM.exists(), "chromium is not installed: run `make system-deps`"
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import expect, sync_playwright

    base, video_id = diarized
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{base}/#/videos/{video_id}")
            segments = page.locator("#transcript > li")
            expect(segments).to_have_count(3, timeout=30_000)
            page.get_by_role("button", name="Correct").click()
            cdp = page.context.new_cdp_session(page)
            cdp.send("Network.enable")
            cdp.send(
                "Network.emulateNetworkConditions",
                {
                    "offline": False,
                    "latency": 600,
                    "downloadThroughput": -1,
                    "uploadThroughput": -1,
                },
            )

            first = segments.first
            seek = first.locator("button[data-start]")
            for text in (
                "Welcome to the penguin panel, everyone.",
                "Welcome, all, to the penguins.",
            ):
                seek.click()
                editor = first.locator("input.segment-text")
                editor.fill(text)
                editor.press("Enter")
                # saved: a refused edit keeps the editor open and says "Changed elsewhere"
                expect(editor).to_have_count(0, timeout=10_000)
                expect(seek).to_contain_text(text)
            expect(page.locator("#edit-message")).to_contain_text("Saved.")
            expect(page.get_by_text("Changed elsewhere")).to_have_count(0)
            history = httpx.get(f"{base}/videos/{video_id}/segments/0/history").json()
            assert [v["text"].strip() for v in history["versions"]] == [
                "Welcome to the penguin panel.",
                "Welcome to the penguin panel, everyone.",
                "Welcome, all, to the penguins.",
            ]
            assert errors == [], errors
        finally:
            browser.close()
