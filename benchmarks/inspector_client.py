"""One viewer on an inspector page, for benchmarks/receiver.py's `inspector` contender.

    python benchmarks/inspector_client.py http://127.0.0.1:4040/
    python benchmarks/inspector_client.py http://127.0.0.1:4040/ --sse   # no browser

Opens the page in headless Chromium through Playwright (an installed Chromium: $APIMW_TEST_CHROMIUM,
`chromium`, `chromium-browser`, `google-chrome` or /usr/bin/chromium, as tests/browser/ finds
it; never a browser Playwright downloads), so the page's script keeps its live stream open and
renders every update, as a user's browser would. Without Playwright or a browser (or with
--sse) it falls back to what the page itself reads: an SSE client on /api/stream, and says so.

Prints one line once it watches (`WATCHING browser: ...` or `WATCHING sse: ...`), then stays
until its stdin closes, and prints what it saw (`SAW ...`) before it exits.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import sys
import threading
from urllib.parse import urlsplit

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]


def find_browser() -> str | None:
    chosen = os.environ.get("APIMW_TEST_CHROMIUM")
    if chosen:
        return chosen if os.access(chosen, os.X_OK) else None
    for name in CANDIDATES:
        if found := shutil.which(name):
            return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


def why_not_browser() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "Playwright is not installed"
    if find_browser() is None:
        return "no Chromium found"
    return None


# Counts the stream messages the page gets (run before the page's own script; it changes
# nothing the page sees).
COUNT_MESSAGES = """
(() => {
  const Original = window.EventSource;
  window.__streamMessages = 0;
  window.EventSource = function (...args) {
    const source = new Original(...args);
    for (const kind of ["rows", "forwards", "message"]) {
      source.addEventListener(kind, () => { window.__streamMessages += 1; });
    }
    return source;
  };
  window.EventSource.prototype = Original.prototype;
  Object.assign(window.EventSource, {CONNECTING: 0, OPEN: 1, CLOSED: 2});
})();
"""


def watch_in_browser(url: str, browser_path: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=browser_path, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.add_init_script(COUNT_MESSAGES)
        page.goto(url)
        page.wait_for_selector("#events", state="attached")
        print(f"WATCHING browser: headless {browser.version} on {url}", flush=True)
        stopped = threading.Event()

        def wait_for_eof() -> None:
            sys.stdin.read()
            stopped.set()

        threading.Thread(target=wait_for_eof, daemon=True).start()
        while not stopped.is_set():
            page.wait_for_timeout(200)  # lets Playwright's loop run; the page runs regardless
        messages = page.evaluate("() => window.__streamMessages")
        rows = page.eval_on_selector_all("#events .event-row", "rows => rows.length")
        status = " ".join((page.text_content("#status") or "").split())
        print(f"SAW {messages} stream events; {rows} rows shown; status: {status}", flush=True)
        browser.close()


def watch_stream(url: str, reason: str) -> None:
    """Read /api/stream as the page would (a plain HTTP/1.1 GET kept open), counting events."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    sock = socket.create_connection((host, port))
    request = (
        f"GET /api/stream HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n"
        "Cache-Control: no-cache\r\n\r\n"
    )
    sock.sendall(request.encode())
    counted = {"events": 0, "bytes": 0}

    def read() -> None:
        while chunk := sock.recv(1 << 16):
            counted["bytes"] += len(chunk)
            counted["events"] += chunk.count(b"\nevent: ") + chunk.startswith(b"event: ")

    threading.Thread(target=read, daemon=True).start()
    print(f"WATCHING sse: {reason}; an SSE client reads {url}api/stream instead", flush=True)
    sys.stdin.read()
    print(f"SAW {counted['events']} stream events ({counted['bytes']:,} bytes)", flush=True)
    sock.close()


def main(argv: list[str]) -> int:
    url = next((a for a in argv if not a.startswith("--")), "http://127.0.0.1:4040/")
    reason = "asked for (--sse)" if "--sse" in argv else why_not_browser()
    browser_path = find_browser()
    if reason is None and browser_path is not None:
        watch_in_browser(url, browser_path)
    else:
        watch_stream(url, reason or "no browser")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
