"""The web UI in a real browser: `vidigest serve` in a subprocess, the Debian chromium driven by
Playwright. Upload through the page, wait for COMPLETED, seek the player from the transcript and
from a chapter, save a screenshot under .test-artifacts/.

No skip: without /usr/bin/chromium (`make system-deps` installs it) this test fails.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, serve
from tests.support.paths import REPO, SAMPLES

pytestmark = pytest.mark.slow

ARTIFACTS = REPO / ".test-artifacts"
CLIP = SAMPLES / "librivox_speech.mp4"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    with serve(tmp_path) as base:
        yield base


def test_upload_watch_and_seek_in_chromium(server: str) -> None:
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
            expect(page.get_by_text("No videos yet")).to_be_visible()

            # upload through the labelled file input (the drop zone feeds the same function)
            page.get_by_label("Choose a file").set_input_files(str(CLIP))
            expect(page.locator("#upload-list li").first).to_contain_text(
                "Uploaded: processing", timeout=30_000
            )
            row = page.locator("#video-rows tr", has_text=CLIP.name)
            expect(row).to_have_attribute("data-status", "COMPLETED", timeout=240_000)

            row.get_by_role("link", name=CLIP.name).click()
            expect(page.locator("#video-status")).to_have_attribute(
                "data-status", "COMPLETED", timeout=30_000
            )
            segments = page.locator("#transcript button")
            expect(segments.first).to_be_visible()
            chapters = page.locator("#chapters button")
            expect(chapters.first).to_be_visible()
            assert page.locator("#keywords li").count() > 0
            assert page.locator("#abstract").inner_text().strip()
            assert page.get_by_role("link", name="SRT").get_attribute("href")

            player = page.locator("#player")
            page.wait_for_function("document.getElementById('player').readyState >= 1")

            def current_time() -> float:
                return float(player.evaluate("v => v.currentTime"))

            # a transcript segment seeks the player to its start
            last_segment = segments.last
            segment_start = float(last_segment.get_attribute("data-start") or "nan")
            assert segment_start > 1.0
            last_segment.click()
            page.wait_for_function(
                f"Math.abs(document.getElementById('player').currentTime - {segment_start}) < 1.5"
            )
            # a chapter seeks it to the chapter's start (here: back from the last segment)
            chapter = chapters.last
            chapter_start = float(chapter.get_attribute("data-start") or "nan")
            before = current_time()
            chapter.focus()
            page.keyboard.press("Enter")  # keyboard works as well as the mouse
            page.wait_for_function(
                f"Math.abs(document.getElementById('player').currentTime - {chapter_start}) < 1.5"
            )
            after = current_time()
            assert abs(after - chapter_start) < 1.5 and abs(after - before) > 1.0, (before, after)

            # search finds the passage and links back to the moment
            page.get_by_label("Search transcripts").fill("Dashwood")
            page.get_by_role("button", name="Search").click()
            expect(page.locator("#search-results li").first).to_contain_text("Dashwood")
            # Ask: a quoted answer whose links open the player at the moment
            page.get_by_label("Search transcripts").fill("Who is Dashwood?")
            page.get_by_role("button", name="Ask").click()
            expect(page.locator("#ask-answer")).to_contain_text("Dashwood", timeout=60_000)
            link = page.locator("#ask-answer a").first
            assert re.fullmatch(r"#/videos/[0-9a-f-]+\?t=\d+", link.get_attribute("href") or "")
            page.go_back()  # to the search for "Dashwood"

            page.go_back()
            expect(page.locator("#video-status")).to_have_attribute("data-status", "COMPLETED")
            player.evaluate("v => v.pause()")
            page.screenshot(path=str(ARTIFACTS / "ui-video.png"))
            assert errors == [], errors
        finally:
            browser.close()


def test_pages_work_under_their_content_security_policy(server: str) -> None:
    """The UI and /docs (Swagger UI from the pinned package) run with their CSP in a real
    browser: no violation, no request to another host, and Swagger UI can call the API."""
    assert CHROMIUM.exists(), "chromium is not installed: run `make system-deps`"
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            problems: list[str] = []
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            # CSP violations are console errors; a failed load is checked by status below (the
            # favicon included: it is served)
            page.on(
                "console",
                lambda m: (
                    problems.append(f"console: {m.text}")
                    if m.type == "error" and not m.text.startswith("Failed to load resource")
                    else None
                ),
            )
            page.on(
                "request",
                lambda r: (
                    None
                    if r.url.startswith((server, "data:", "blob:"))
                    else problems.append(f"foreign request: {r.url}")
                ),
            )

            page.on(
                "response",
                lambda r: problems.append(f"{r.status}: {r.url}") if r.status >= 400 else None,
            )
            page.goto(server + "/")
            expect(page.get_by_text("No videos yet")).to_be_visible()

            page.goto(server + "/docs")
            health = page.locator(".opblock", has_text="/health/live")
            expect(health).to_be_visible(timeout=30_000)
            health.locator(".opblock-summary").click()
            health.get_by_role("button", name="Try it out").click()
            health.get_by_role("button", name="Execute").click()
            expect(health.locator(".live-responses-table")).to_contain_text('"ok"')
            assert problems == [], problems
        finally:
            browser.close()
