"""The README's screenshot of the inspector (docs/inspector.png), made by a real browser.

    python -m tests.browser.screenshot                 # writes docs/inspector.png
    python -m tests.browser.screenshot /tmp/shot.png

The inspector runs, as `apimw listen` runs it, over a session log of a few realistic events of
the last minute or two (a forwarded message, a delivery receipt, a retry after the app answered
500, a signature that fails because something re-encoded the JSON); the page replays the first
event to a local app through its own replay button, then the failed signature is selected, and
the 1280x800 page is captured.
tests/browser/test_inspector_screenshot.py makes one in a temporary directory on every run, so
this keeps working; regenerate the committed one after changing the page.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import Page

from apimw_cli.models import Forwarded, Received
from apimw_cli.protocol import SIGNATURE_HEADER
from apimw_cli.signing import sign, verify
from tests.browser import page as inspector
from tests.browser.support import SECRET, headers_for, inspector_over, received, write_log
from tests.support.capture import CaptureServer, Reply
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "docs" / "inspector.png"
APP_HEADERS = (("content-type", "application/json"), ("x-request-id", "req_7f3a91"))


def events(start: float) -> list[Received | Forwarded]:
    """A short session from `start` on: what listen would have logged."""

    def body(kind: str, **data: object) -> bytes:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start))
        payload = {"type": kind, "timestamp": stamp, "data": data}
        return json.dumps(payload, separators=(",", ":")).encode()

    customer = {"from": "+4915112345678", "profile": {"name": "Lena"}}
    hello = body("message.received", message_id="wamid.HBgL4915",
                 text="Hi! Is my order on its way?", **customer)  # fmt: skip
    sent = body("message.sent", message_id="wamid.HBgL7731", to="+4915112345678",
                text="Yes - it ships today. Tracking: DE-4471-0093")  # fmt: skip
    delivered = body("message.delivered", message_id="wamid.HBgL7731", to="+4915112345678")
    failed = body("message.failed", message_id="wamid.HBgL8802", to="+14155550100",
                  error={"code": 131026, "title": "Receiver is incapable of receiving"},
                  )  # fmt: skip
    signed = body("message.read", message_id="wamid.HBgL7731", to="+4915112345678")
    reencoded = json.dumps(json.loads(signed), indent=2).encode()  # parsed and re-encoded
    forged_headers = headers_for(reencoded, "dlv_9c41e2b07d55")
    forged_headers[SIGNATURE_HEADER] = sign(signed, SECRET)
    verdict_of = verify(reencoded, forged_headers[SIGNATURE_HEADER], SECRET)
    ok = verify(hello, sign(hello, SECRET), SECRET)
    items: list[Received | Forwarded] = []

    def add(n: int, data: bytes, delivery: str, at: float, attempt: int = 1) -> None:
        headers = headers_for(data, delivery)
        items.append(
            received(n, data, headers, at=start + at, verdict=ok, attempt=attempt,
                     duplicate=attempt > 1)
        )  # fmt: skip

    def forward(n: int, status: int, ms: float, answer: bytes) -> None:
        items.append(
            Forwarded(f"rec_{n:012x}", "http://localhost:3000/webhooks", status, ms,
                      response_body=answer, response_headers=APP_HEADERS)
        )  # fmt: skip

    add(1, hello, "dlv_5be0c3a1f902", 0.0)
    forward(1, 200, 14.2, b'{"ok":true}')
    add(2, sent, "dlv_0d7e6b2c4a18", 21.4)
    forward(2, 200, 9.8, b'{"ok":true}')
    add(3, delivered, "dlv_77a1f0e9b3c6", 23.9)
    forward(3, 200, 8.1, b'{"ok":true}')
    add(4, failed, "dlv_e2c95d1a0b47", 31.0)
    forward(4, 500, 120.6, b'{"error":"TypeError: cannot read properties of undefined"}')
    add(5, failed, "dlv_e2c95d1a0b47", 61.2, attempt=2)  # APIMW's retry
    forward(5, 200, 11.3, b'{"ok":true}')
    items.append(
        received(6, reencoded, forged_headers, at=start + 64.5, verdict=verdict_of,
                 kind="invalid", status=401)
    )  # fmt: skip
    return items


def render(page: Page, out: Path) -> None:
    """Make the screenshot with `page` (a 1280x800 browser page) and write it to `out`."""
    with tempfile.TemporaryDirectory(prefix="apimw-shot-") as tmp:
        start = float(int(time.time()) - 80)  # the replay, made now, follows the session
        name = time.strftime("%Y%m%d-%H%M%S-48213.jsonl", time.localtime(start))  # as listen's
        log = write_log(Path(tmp) / name, events(start))
        app = Reply(200, b'{"ok":true}', "application/json", {"X-Request-Id": "req_81d0c2"})
        with (
            CaptureServer(app) as server,
            inspector_over(log, target=server.url, live=True, title="apimw listen") as running,
        ):
            inspector.open_page(page, running.url)
            inspector.wait_row(page, "rec_000000000006")
            inspector.select(page, "rec_000000000001")
            page.click("#replay-verbatim")  # a replay row, linked to its original
            server.wait_requests(1)
            wait_for(lambda: inspector.replay_rows_of(page, "rec_000000000001"), 15, "the replay")
            inspector.select(page, "rec_000000000006")
            page.wait_for_selector("#detail-diagnosis", state="visible")
            page.mouse.move(0, 0)  # no hover highlight
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out), type="png")


def main(argv: list[str]) -> int:
    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import VIEWPORT, find_browser, start_chromium, why_no_browser

    reason = why_no_browser()
    executable = find_browser()
    if reason or executable is None:
        print(f"cannot make the screenshot: {reason}", file=sys.stderr)
        return 1
    out = Path(argv[0]) if argv else DEFAULT
    with tempfile.TemporaryDirectory(prefix="apimw-chromium-") as profile:
        chromium = start_chromium(executable, Path(profile))
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.connect_over_cdp(chromium.endpoint)
                context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
                render(context.new_page(), out)
                browser.close()
        finally:
            chromium.stop()
    print(f"wrote {out} ({out.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
