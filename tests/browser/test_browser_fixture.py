"""The browser fixtures themselves: the browser is found or the skip says why, a page runs in
the shared Chromium, and a test that used Playwright leaves asyncio usable for the next test of
its worker (the reason Playwright lives per test, tests/browser/conftest.py)."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
from pathlib import Path

import pytest

from tests.browser import conftest
from tests.browser.conftest import RunningChromium, Tab
from tests.support.capture import CaptureServer, Reply

pytestmark = pytest.mark.browser

PAGE = b"<!doctype html><title>t</title><p id=x>hello</p><script>alert('fired')</script>"


def test_a_page_renders_and_its_dialogs_are_seen(tab: Tab) -> None:
    with CaptureServer(Reply(200, PAGE, "text/html")) as server:
        tab.page.goto(server.url)
        assert tab.page.text_content("#x") == "hello"
    assert tab.dialogs == ["fired"]  # the XSS tests rely on seeing a dialog that fires
    assert tab.page.viewport_size == {"width": 1280, "height": 800}


def test_after_playwright_stops_asyncio_runs_again(chromium: RunningChromium) -> None:
    from playwright.sync_api import sync_playwright

    async def answer() -> int:
        return 42

    with sync_playwright() as playwright:
        browser = playwright.chromium.connect_over_cdp(chromium.endpoint)
        page = browser.new_context().new_page()
        page.set_content("<p>x</p>")
        browser.close()
    assert asyncio.run(answer()) == 42
    assert chromium.process.poll() is None  # disconnecting left the shared browser running


def test_a_missing_browser_is_a_skip_reason_naming_the_fix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(conftest, "_CHOSEN", None)
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    monkeypatch.setattr(os, "access", lambda _path, _mode: False)
    reason = conftest.why_no_browser()
    assert reason is not None and "apt-get install chromium" in reason, reason
    assert conftest.BROWSER_ENV in reason


def test_a_chosen_browser_that_is_not_executable_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    chosen = tmp_path / "not-a-browser"
    chosen.write_text("")
    os.chmod(chosen, 0o644)  # no execute bit: not executable even for root
    monkeypatch.setattr(conftest, "_CHOSEN", str(chosen))
    assert conftest.find_browser() is None
    reason = conftest.why_no_browser()
    assert reason is not None and str(chosen) in reason, reason


def test_without_playwright_the_skip_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda _name: None)
    assert conftest.why_no_browser() == "Playwright is not installed (pip install -e '.[dev]')"
