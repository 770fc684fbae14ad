"""The web UI for daily use, in the Debian chromium driven by Playwright against `vidigest serve`:
the upload queue (several files, one refused), progress that moves while a short file is
transcribed, cancel / retry / delete from the list, a phone's width, keyboard-only use, deep
links, dark mode and the API key. Screenshots of the main screens go to docs/.

No skip: without /usr/bin/chromium (`make system-deps` installs it) these tests fail.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, serve
from tests.support.paths import REPO, SAMPLES

pytestmark = pytest.mark.slow

CLIP = SAMPLES / "librivox_speech.mp4"  # 27 s
TALK = SAMPLES / "three_topics_talk.mp4"  # 2:53, one transcription window
DOCS = REPO / "docs"
LONG_NAME = "x" * 196 + ".mp4"  # 200 characters and no space
ODD_NAME = "Q&A session (part 1) \u2013 \u00c4rger's talk #2.mp4"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # the default decoder (batched): the talk's one window (7 chunks of speech) is decoded in
    # two batches, and the percentage moves after each
    with serve(tmp_path_factory.mktemp("serve")) as base:
        yield base


@pytest.fixture(scope="module")
def pw() -> Iterator[Any]:
    assert CHROMIUM.exists(), "chromium is not installed: run `make system-deps`"
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _no_horizontal_scroll(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], width


def _completed(base: str, path: Path, name: str) -> str:
    """A video uploaded through the API and processed: its id."""
    with path.open("rb") as handle:
        created = httpx.post(f"{base}/videos", files={"file": (name, handle)}, timeout=60)
    assert created.status_code == 201, created.text
    video_id = str(created.json()["id"])
    deadline = time.monotonic() + 300
    while (video := httpx.get(f"{base}/videos/{video_id}").json())["status"] != "COMPLETED":
        assert video["status"] != "FAILED" and time.monotonic() < deadline, video
        time.sleep(0.5)
    return video_id


def test_upload_queue_progress_and_cancel(server: str, pw: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    page = pw.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: d.accept())
    page.goto(server + "/")
    expect(page.get_by_text("No videos yet")).to_be_visible()

    # three files at once: each gets its own line; the one that is no media says why, the
    # others go on
    bad = tmp_path / "notes.mp4"
    bad.write_text("these are notes, not a video\n" * 20)
    page.get_by_label("Model").select_option("fast")
    page.get_by_label("Choose a file").set_input_files([str(TALK), str(bad), str(CLIP)])
    uploads = page.locator("#upload-list li")
    expect(uploads).to_have_count(3)
    refused = page.locator("#upload-list li", has_text="notes.mp4")
    expect(refused).to_contain_text("Not accepted: not a video or audio file", timeout=60_000)
    expect(refused).to_have_class(re.compile("rejected"))
    talk_row = page.locator("#video-rows tr", has_text=TALK.name)
    clip_row = page.locator("#video-rows tr", has_text=CLIP.name)
    expect(clip_row).to_have_count(1, timeout=60_000)

    # the talk is transcribed first; the clip waits its turn. The percentage moves while the
    # talk's one window is transcribed, and an ETA is shown.
    expect(talk_row).to_have_attribute("data-status", "TRANSCRIBING", timeout=120_000)
    expect(clip_row).to_have_attribute("data-group", "waiting")
    seen: set[float] = set()
    deadline = time.monotonic() + 180
    while len(seen) < 2 and time.monotonic() < deadline:
        if talk_row.get_attribute("data-status") != "TRANSCRIBING":
            break
        value = float(talk_row.locator("progress").get_attribute("value") or 0)
        if 0 < value < 85:
            seen.add(value)
        time.sleep(0.25)
    assert len(seen) >= 2, f"the percentage did not move during transcription: {seen}"
    expect(talk_row.locator(".eta")).to_contain_text("left")
    page.screenshot(path=str(DOCS / "ui-queue.png"))

    # cancel from the list: it stops, says why, and offers Retry and Delete
    talk_row.get_by_role("button", name=f"Cancel {TALK.name}").click()
    expect(talk_row).to_have_attribute("data-status", "FAILED", timeout=30_000)
    expect(talk_row.locator(".reason")).to_have_text("cancelled by the user")
    expect(talk_row.get_by_role("button", name=f"Retry {TALK.name}")).to_be_visible()

    # the clip goes on to the end; its "processing" line leaves the upload list
    expect(clip_row).to_have_attribute("data-status", "COMPLETED", timeout=240_000)
    expect(page.locator("#upload-list li", has_text=CLIP.name)).to_have_count(0, timeout=10_000)
    expect(clip_row).to_contain_text("whisper-tiny.en")
    page.locator("#queue-filter").get_by_role("button", name=re.compile("^Failed")).click()
    expect(page.locator("#video-rows tr")).to_have_count(1)
    page.locator("#queue-filter").get_by_role("button", name=re.compile("^All")).click()

    talk_row.get_by_role("button", name=f"Delete {TALK.name}").click()
    expect(talk_row).to_have_count(0, timeout=10_000)
    assert errors == [], errors
    page.close()


def test_phone_keyboard_deep_link_and_dark_mode(server: str, pw: Any) -> None:
    from playwright.sync_api import expect

    clip_id = _completed(server, CLIP, ODD_NAME)
    _completed(server, CLIP, LONG_NAME)

    # a phone: no horizontal scroll on the list or a video; the table is a card per video
    phone = pw.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    phone.goto(server + "/")
    expect(phone.locator("#video-rows tr", has_text=LONG_NAME).first).to_be_visible()
    expect(phone.get_by_role("link", name=ODD_NAME)).to_be_visible()  # the name as given
    _no_horizontal_scroll(phone)
    phone.screenshot(path=str(DOCS / "ui-phone.png"), full_page=True)
    phone.goto(f"{server}/#/videos/{clip_id}")
    expect(phone.locator("#transcript button").first).to_be_visible(timeout=30_000)
    _no_horizontal_scroll(phone)
    phone.close()

    page = pw.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server + "/")
    expect(page.locator("#video-rows tr", has_text=LONG_NAME).first).to_be_visible()
    _no_horizontal_scroll(page)  # a 200-character name without spaces wraps

    # keyboard only: Tab reaches "Choose a file" with a visible focus ring, Enter opens the
    # picker; Tab reaches a video's link, Enter opens it; a transcript line seeks the player
    page.locator("body").focus()
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "file-input":
            break
    else:
        pytest.fail("Tab never reached the file input")
    ring = page.evaluate(
        "getComputedStyle(document.querySelector('label[for=file-input]')).outlineStyle"
    )
    assert ring not in ("none", ""), ring
    page.bring_to_front()
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")  # the key that activates a file input
    assert chooser.value.is_multiple()
    for _ in range(60):
        page.keyboard.press("Tab")
        href = page.evaluate("document.activeElement.getAttribute('href') || ''")
        if href == f"#/videos/{clip_id}":
            break
    else:
        pytest.fail("Tab never reached the video's link")
    page.keyboard.press("Enter")
    expect(page.locator("#video-status")).to_have_attribute("data-status", "COMPLETED")
    segments = page.locator("#transcript button")
    expect(segments.first).to_be_visible(timeout=30_000)
    for _ in range(80):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.closest('#transcript') !== null"):
            break
    else:
        pytest.fail("Tab never reached the transcript")
    while float(page.evaluate("document.activeElement.dataset.start")) < 1.0:
        page.keyboard.press("Tab")  # a line further on than where the player is
        assert page.evaluate("document.activeElement.closest('#transcript') !== null")
    start = float(page.evaluate("document.activeElement.dataset.start"))
    page.keyboard.press("Enter")
    page.wait_for_function(
        f"Math.abs(document.getElementById('player').currentTime - {start}) < 1.5"
    )

    # a deep link (as a search hit makes) to the last line, on a narrow window where the
    # transcript box scrolls: the line is highlighted and scrolled into view, no frame around
    # the page
    page.set_viewport_size({"width": 390, "height": 500})
    last = segments.last
    at = float(last.get_attribute("data-start") or "nan") + 0.1
    page.goto(f"{server}/#/videos/{clip_id}?t={at}")
    page.reload()
    current = page.locator("#transcript button.current")
    expect(current).to_have_count(1, timeout=30_000)
    box = page.locator("#transcript")
    assert box.evaluate("b => b.scrollHeight > b.clientHeight && b.scrollTop > 0")  # scrolled
    assert current.get_attribute("data-start") == last.get_attribute("data-start")
    in_view = page.evaluate(
        """() => { const box = document.getElementById('transcript').getBoundingClientRect();
                   const line = document.querySelector('#transcript button.current')
                     .getBoundingClientRect();
                   return line.top >= box.top - 1 && line.bottom <= box.bottom + 1; }"""
    )
    assert in_view
    assert page.evaluate("getComputedStyle(document.getElementById('main')).outlineStyle") in (
        "none",
        "",
    )

    page.set_viewport_size({"width": 1280, "height": 900})

    # an unknown video: no empty Summary / Key points / Chapters headings
    page.goto(f"{server}/#/videos/00000000-0000-0000-0000-000000000000")
    expect(page.locator("#video-title")).to_have_text("No such video")
    for heading in ("Summary", "Key points", "Chapters", "Transcript"):
        expect(page.get_by_role("heading", name=heading)).to_have_count(0)

    # dark mode: the system's choice, and the toggle over it (kept across pages)
    page.emulate_media(color_scheme="dark")
    page.goto(server + "/")
    expect(page.locator("#video-rows tr").first).to_be_visible()
    background = "getComputedStyle(document.body).backgroundColor"
    assert page.evaluate(background) == "rgb(15, 20, 25)"
    expect(page.locator("#theme-toggle")).to_have_attribute("aria-pressed", "true")
    page.screenshot(path=str(DOCS / "ui-dark.png"))
    page.locator("#theme-toggle").click()
    assert page.evaluate(background) == "rgb(246, 247, 249)"
    page.emulate_media(color_scheme="light")
    page.locator("#theme-toggle").click()
    page.reload()
    assert page.evaluate(background) == "rgb(15, 20, 25)"
    expect(page.locator("#theme-toggle")).to_have_attribute("aria-pressed", "true")
    assert errors == [], errors
    page.close()


def test_api_key_feedback_change_and_forget(pw: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    with serve(tmp_path, VIDIGEST_API_KEYS="right-key") as base:
        page = pw.new_page()
        page.goto(base + "/")
        expect(page.get_by_label("This server needs an API key")).to_be_visible()
        expect(page.locator("#dropzone")).to_be_hidden()

        page.get_by_label("This server needs an API key").fill("wrong-key")
        page.get_by_role("button", name="Use key").click()
        expect(page.locator("#auth-message")).to_contain_text("not accepted")
        expect(page.locator("#dropzone")).to_be_hidden()
        assert page.evaluate("localStorage.getItem('vidigest_api_key')") is None

        page.get_by_label("This server needs an API key").fill("right-key")
        page.get_by_role("button", name="Use key").click()
        expect(page.locator("#dropzone")).to_be_visible()
        expect(page.locator("#auth")).to_be_hidden()
        expect(page.get_by_text("No videos yet")).to_be_visible()

        # change it: a wrong one is refused and the good one stays
        page.get_by_role("button", name="API key").click()
        page.get_by_label("Change the API key").fill("another-wrong-key")
        page.get_by_role("button", name="Use key").click()
        expect(page.locator("#auth-message")).to_contain_text("not accepted")
        assert page.evaluate("localStorage.getItem('vidigest_api_key')") == "right-key"

        # forget it: the browser no longer sends it, the upload area goes away
        page.get_by_role("button", name="Forget the stored key").click()
        expect(page.locator("#dropzone")).to_be_hidden()
        expect(page.get_by_label("This server needs an API key")).to_be_visible()
        assert page.evaluate("localStorage.getItem('vidigest_api_key')") is None
        assert "vidigest_api_key=right-key" not in page.evaluate("document.cookie")
        page.close()
