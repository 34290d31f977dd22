"""The inspector page over a prepared session log (the inspector alone, in this process, as
`apimw events inspect` runs it), in headless Chromium: bytes that are not text, retries, the
app's answers, replay from a past log, and lines appended while the page is open."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from apimw_cli.models import Forwarded, Received
from apimw_cli.protocol import SIGNATURE_HEADER
from apimw_cli.receiver.recorder import Recorder
from apimw_cli.signing import sign, verify
from tests.browser import page as inspector
from tests.browser.conftest import Tab
from tests.browser.support import (
    SECRET,
    event_body,
    headers_for,
    inspector_over,
    received,
    write_log,
)
from tests.support.capture import CaptureServer, Reply
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.timeout(60)]

AT = 1_796_035_320.0
VALID = verify(b"x", sign(b"x", SECRET), SECRET)
TARGET = "http://127.0.0.1:9/hook"  # nothing listens on the discard port


def request(n: int, body: bytes, delivery: str, attempt: int = 1) -> Received:
    headers = headers_for(body, delivery)
    return received(
        n, body, headers, at=AT + n, verdict=VALID, attempt=attempt, duplicate=attempt > 1
    )


def test_a_body_that_is_not_text_downloads_byte_exact_and_shows_visibly(
    tab: Tab, tmp_path: Path
) -> None:
    body = bytes(range(256)) + b"\xc3\x28 invalid UTF-8 \xed\xa0\x80 surrogate"
    log = write_log(tmp_path / "s.jsonl", [request(1, body, "dlv_binary000001")])
    assert b'"body_b64"' in log.read_bytes()  # the log keeps it as base64
    with inspector_over(log, target=None) as running:
        page = tab.page
        inspector.open_page(page, running.url)
        inspector.wait_row(page, "rec_000000000001")
        inspector.select(page, "rec_000000000001")
        assert inspector.download_body(page, tmp_path) == body
        size = inspector.text(page, "#detail-size").replace(",", "").replace("\u202f", "")
        assert str(len(body)) in size, size
        raw = inspector.text(page, "#detail-body-raw")
        assert "invalid UTF-8" in raw and "surrogate" in raw
        for control in ("\x00", "\x1b", "\x07", "\x7f"):
            assert control not in raw, repr(raw[:200])


def test_a_retry_shows_its_earlier_attempt_and_the_apps_answers(tab: Tab, tmp_path: Path) -> None:
    body = event_body("message.failed", 3)
    answer_headers = (("Content-Type", "application/json"), ("X-Trace", "trace-81d0"))
    log = write_log(
        tmp_path / "s.jsonl",
        [
            request(1, body, "dlv_retried00001"),
            Forwarded("rec_000000000001", TARGET, 500, 120.5, None, b'{"error":"boom"}',
                      answer_headers),
            request(2, body, "dlv_retried00001", attempt=2),
            Forwarded("rec_000000000002", TARGET, 200, 8.25, None, b'{"ok":true}',
                      answer_headers),
        ],
    )  # fmt: skip
    with inspector_over(log, target=None) as running:
        page = tab.page
        inspector.open_page(page, running.url)
        inspector.wait_rows(page, ["rec_000000000001", "rec_000000000002"])
        assert inspector.cell(page, "rec_000000000002", "mark").strip()  # a retry says so
        assert "500" in inspector.cell(page, "rec_000000000001", "forwards")
        inspector.select(page, "rec_000000000002")
        attempts = inspector.text(page, "#detail-attempts")
        assert "rec_000000000001" in attempts or "500" in attempts, attempts
        forward = page.locator("#detail-forwards .forward-attempt").first.text_content() or ""
        assert "200" in forward and "trace-81d0" in forward and '{"ok":true}' in forward, forward
        inspector.select(page, "rec_000000000001")
        forward = page.locator("#detail-forwards .forward-attempt").first.text_content() or ""
        assert "500" in forward and "boom" in forward, forward


def test_replay_from_a_past_log_adds_a_linked_row(tab: Tab, tmp_path: Path) -> None:
    body = event_body("message.sent", 1)
    log = write_log(tmp_path / "s.jsonl", [request(1, body, "dlv_pastlog00001")])
    with CaptureServer(Reply(202, b"accepted")) as app, inspector_over(log, target=app.url) as ins:
        page = tab.page
        inspector.open_page(page, ins.url)
        inspector.select(page, "rec_000000000001")
        page.click("#replay-resigned")
        sent = app.wait_requests(1)[0]
        assert sent.body == body and verify(body, sent.header(SIGNATURE_HEADER), SECRET).valid
        wait_for(lambda: inspector.replay_rows_of(page, "rec_000000000001"), 15, "the replay row")
        replay = inspector.replay_rows_of(page, "rec_000000000001")[0]
        assert inspector.row_ids(page)[0] == replay
        assert "202" in inspector.cell(page, replay, "forwards") + inspector.cell(
            page, replay, "status"
        )
        replay_lines = [
            json.loads(line) for line in log.read_text().splitlines() if '"replay"' in line
        ]
        assert [line["of"] for line in replay_lines] == ["rec_000000000001"]
        assert replay_lines[0]["id"] == replay


def test_without_a_target_replay_is_refused_in_words(tab: Tab, tmp_path: Path) -> None:
    log = write_log(tmp_path / "s.jsonl", [request(1, event_body(), "dlv_notarget0001")])
    with inspector_over(log, target=None) as running:
        page = tab.page
        inspector.open_page(page, running.url)
        inspector.select(page, "rec_000000000001")
        if page.is_enabled("#replay-verbatim"):
            page.click("#replay-verbatim")
            wait_for(lambda: inspector.text(page, "#status").strip(), 15, "a word in #status")
        assert inspector.replay_rows_of(page, "rec_000000000001") == []
        assert '"record":"replay"' not in log.read_text()


def test_lines_appended_to_a_live_log_appear_without_a_reload(tab: Tab, tmp_path: Path) -> None:
    log = write_log(tmp_path / "s.jsonl", [request(1, event_body(n=1), "dlv_appended0001")])
    with inspector_over(log, target=None, live=True) as running:
        page = tab.page
        inspector.open_page(page, running.url)
        inspector.wait_rows(page, ["rec_000000000001"])
        recorder = Recorder(log)
        try:
            for n in (2, 3):
                recorder.write_request(request(n, event_body(n=n), f"dlv_appended000{n}"))
                inspector.wait_row(page, f"rec_{n:012x}")
            recorder.write_forward(Forwarded("rec_000000000003", TARGET, 204, 3.5))
        finally:
            recorder.close()
        assert inspector.row_ids(page) == [f"rec_{n:012x}" for n in (3, 2, 1)]
        wait_for(lambda: "204" in inspector.cell(page, "rec_000000000003", "forwards"), 15,
                 "the forward's status, updated in place")  # fmt: skip
        assert page.evaluate("() => performance.getEntriesByType('navigation').length") == 1


def test_while_events_keep_pouring_in_the_page_keeps_showing_the_newest(
    tab: Tab, tmp_path: Path
) -> None:
    """More events than one stream message carries, tick after tick (a load test, a retry
    storm): the page must not wait for the flood to end before it shows anything new."""
    log = write_log(tmp_path / "s.jsonl", [request(1, event_body(n=1), "dlv_flood0000001")])
    with inspector_over(log, target=None, live=True) as running:
        page = tab.page
        inspector.open_page(page, running.url)
        inspector.wait_rows(page, ["rec_000000000001"])
        stop = threading.Event()
        written = [1]

        def pour() -> None:  # ~3,000 lines a second, until the page showed some or 20 s
            recorder = Recorder(log)
            try:
                deadline = time.monotonic() + 20
                while not stop.is_set() and time.monotonic() < deadline:
                    for _ in range(150):
                        n = written[0] = written[0] + 1
                        recorder.write_request(request(n, event_body(n=n), f"dlv_flood{n:07d}"))
                    stop.wait(0.05)
            finally:
                recorder.close()

        pourer = threading.Thread(target=pour, daemon=True)
        pourer.start()
        try:
            wait_for(
                lambda: inspector.row_ids(page)[:1] != ["rec_000000000001"] and pourer.is_alive(),
                8,  # a working page shows them within about a second
                "newer rows on the page while the lines keep coming",
            )
        finally:
            stop.set()
            pourer.join(10)


def test_a_huge_body_shows_its_first_part_and_downloads_whole(tab: Tab, tmp_path: Path) -> None:
    huge = json.dumps({"type": "message.sent", "data": {"text": "y" * 3_000_000}}).encode()
    log = write_log(tmp_path / "s.jsonl", [request(1, huge, "dlv_huge00000001")])
    with inspector_over(log, target=None) as running:
        page = tab.page
        inspector.open_page(page, running.url)
        inspector.select(page, "rec_000000000001")
        assert str(len(huge)) in inspector.text(page, "#detail-size").replace(",", "")
        raw = inspector.text(page, "#detail-body-raw")
        assert raw.startswith(huge[:1000].decode()) and len(raw) < len(huge)  # a part, said so
        assert inspector.download_body(page, tmp_path) == huge


def test_a_deeply_nested_body_does_not_freeze_the_page(tab: Tab, tmp_path: Path) -> None:
    nested = b"[" * 100_000 + b"]" * 100_000  # deeper than most parsers' stacks
    log = write_log(tmp_path / "s.jsonl", [request(1, nested, "dlv_nested000001")])
    with inspector_over(log, target=None) as running:
        page = tab.page
        inspector.open_page(page, running.url)
        inspector.select(page, "rec_000000000001")
        assert str(len(nested)) in inspector.text(page, "#detail-size").replace(",", "")
        pretty = page.eval_on_selector("#detail-body-pretty", "e => e.textContent.length")
        assert pretty <= 4 * len(nested), f"{pretty:,} characters of pretty view"
        assert inspector.download_body(page, tmp_path) == nested
