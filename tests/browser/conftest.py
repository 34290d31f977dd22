"""Browser tests of the inspector page (issue #18): headless Chromium driven by Playwright.

The browser is an installed Chromium (Debian's `chromium` package, which .ci/run installs), never
one Playwright downloads (CI has no internet): $APIMW_TEST_CHROMIUM, else `chromium`,
`chromium-browser` or `google-chrome` on PATH, else /usr/bin/chromium. Without a browser or
without Playwright every test here skips and says why.

One Chromium per xdist worker (session scope), started here with a DevTools port on loopback;
each test connects Playwright to it (`connect_over_cdp`) and gets a browser context of its own
(no cookies, storage, permissions or downloads shared), closed after the test. Playwright itself
lives only as long as one test: its sync API leaves its event loop marked as running in the
thread between calls, so a session-long Playwright would make `asyncio.run` fail in every later
test the same worker runs.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import ConsoleMessage, Dialog, Error, Page, ViewportSize

# Read at import, before the autouse fixture of tests/conftest.py clears every APIMW_* variable.
BROWSER_ENV = "APIMW_TEST_CHROMIUM"
_CHOSEN = os.environ.get(BROWSER_ENV)
CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
# Headless in a root container: Chromium's sandbox needs user namespaces a container rarely
# grants (and refuses to run as root without --no-sandbox); no GPU; /dev/shm is often 64 MB.
LAUNCH_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--mute-audio",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
)
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}


def find_browser() -> str | None:
    """The Chromium to drive, or None."""
    if _CHOSEN:
        return _CHOSEN if os.access(_CHOSEN, os.X_OK) else None
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


def why_no_browser() -> str | None:
    """Why the browser tests cannot run here (the skip reason), or None when they can."""
    if importlib.util.find_spec("playwright") is None:
        return "Playwright is not installed (pip install -e '.[dev]')"
    if find_browser() is None:
        if _CHOSEN:
            return f"{BROWSER_ENV}={_CHOSEN} is not an executable"
        return (
            "no Chromium found (chromium, chromium-browser, google-chrome or /usr/bin/chromium):"
            f" apt-get install chromium, or set {BROWSER_ENV} to a Chromium or Chrome binary"
        )
    return None


@dataclass
class RunningChromium:
    """A headless Chromium serving the DevTools protocol at `endpoint`."""

    process: subprocess.Popen[str]
    endpoint: str
    output: deque[str] = field(default_factory=lambda: deque(maxlen=50))
    reader: threading.Thread | None = None

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.reader is not None:
            self.reader.join(5)
        if self.process.stderr is not None:
            self.process.stderr.close()


def start_chromium(executable: str, profile: Path) -> RunningChromium:
    process = subprocess.Popen(
        [executable, *LAUNCH_FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,  # a Ctrl-C meant for pytest does not kill it mid-test
    )
    assert process.stderr is not None
    seen: deque[str] = deque(maxlen=50)
    endpoint = None
    for line in process.stderr:  # it prints the endpoint once the port is open
        seen.append(line.rstrip())
        match = re.search(r"DevTools listening on (ws://\S+)", line)
        if match:
            endpoint = match.group(1)
            break
    if endpoint is None:
        process.kill()
        process.wait()
        raise RuntimeError(f"{executable} did not start:\n" + "\n".join(seen))
    running = RunningChromium(process, endpoint, seen)
    # Keep reading its stderr: a full pipe would block the browser.
    running.reader = threading.Thread(target=_keep_reading, args=(running,), daemon=True)
    running.reader.start()
    return running


def _keep_reading(running: RunningChromium) -> None:
    assert running.process.stderr is not None
    for line in running.process.stderr:
        running.output.append(line.rstrip())


@pytest.fixture(scope="session")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningChromium]:
    reason = why_no_browser()
    if reason:
        pytest.skip(reason)
    executable = find_browser()
    assert executable is not None
    running = start_chromium(executable, tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield running
    finally:
        running.stop()


@dataclass
class Tab:
    """A page in a fresh browser context, and what it did that a test may check."""

    page: Page
    dialogs: list[str] = field(default_factory=list)  # alert/confirm/prompt messages
    errors: list[str] = field(default_factory=list)  # uncaught exceptions in the page
    console: list[str] = field(default_factory=list)  # console errors (CSP reports among them)
    downloads: Path | None = None


@pytest.fixture
def tab(chromium: RunningChromium, tmp_path: Path) -> Iterator[Tab]:
    """A page of its own (1280x800, downloads accepted, clipboard allowed); fails the test if
    the page raised an uncaught exception."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.connect_over_cdp(chromium.endpoint)
        context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
        context.grant_permissions(["clipboard-read", "clipboard-write"])
        page = context.new_page()
        page.set_default_timeout(15_000)
        opened = Tab(page, downloads=tmp_path)

        def on_dialog(dialog: Dialog) -> None:
            opened.dialogs.append(dialog.message)
            dialog.dismiss()

        def on_error(error: Error) -> None:
            opened.errors.append(f"{error.name}: {error.message}")

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                opened.console.append(message.text)

        page.on("dialog", on_dialog)
        page.on("pageerror", on_error)
        page.on("console", on_console)
        try:
            yield opened
        finally:
            context.close()
            browser.close()  # over CDP: disconnects, the browser stays for the next test
    assert not opened.errors, f"the page raised: {opened.errors}"
