"""The inspector page of a running `apimw listen` (a child process, as users run it), in headless
Chromium: events appear without a reload, details are byte-exact, a failed signature says why,
replay and copy-as-curl reach the app, and hostile bodies stay text."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from apimw_cli.protocol import DELIVERY_HEADER, SIGNATURE_HEADER
from apimw_cli.signing import sign, verify
from tests.browser import page as inspector
from tests.browser.conftest import Tab
from tests.browser.support import (
    OTHER_SECRET,
    SECRET,
    diagnosis_of,
    event_body,
    headers_for,
    live_listen,
)
from tests.support.capture import Captured, CaptureServer, Reply
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(90)]

APP_REPLY = Reply(200, b'{"handled":true}', "application/json", {"X-App-Answer": "yes"})


def test_events_appear_newest_first_without_a_reload(tab: Tab, tmp_path: Path) -> None:
    with CaptureServer(APP_REPLY) as app, live_listen(tmp_path, "--forward-to", app.url) as ls:
        page = tab.page
        inspector.open_page(page, ls.inspector)
        page.evaluate("() => { window.__sameDocument = 'yes' }")
        assert inspector.row_ids(page) == []
        sent = []
        for n, kind in enumerate(("message.sent", "message.delivered", "message.read")):
            body = event_body(kind, n)
            sent.append(ls.send(body, headers_for(body, f"dlv_live{n:08d}")))
            inspector.wait_row(page, sent[-1])  # each shows up on its own, as it arrives
        assert inspector.row_ids(page) == sent[::-1]
        assert inspector.cell(page, sent[1], "type").strip() == "message.delivered"
        app.wait_requests(3)
        wait_for(  # forward outcomes arrive later than their rows, on the same stream
            lambda: all("200" in inspector.cell(page, rid, "forwards") for rid in sent),
            15,
            "each row's forward status",
        )
        assert page.evaluate("() => window.__sameDocument") == "yes"  # never reloaded
        assert page.evaluate("() => performance.getEntriesByType('navigation').length") == 1


def test_details_show_the_headers_and_the_body_byte_exact(tab: Tab, tmp_path: Path) -> None:
    # Pretty-printed on purpose (the raw view must keep it as sent), with non-ASCII text.
    payload = {"type": "message.sent", "data": {"text": "héllo ✓ «quoted»", "n": [1, 2.5]}}
    body = json.dumps(payload, indent=3, ensure_ascii=False).encode() + b"\n"
    headers = headers_for(body, "dlv_details0001", **{"X-Custom-Thing": "a value; with=parts"})
    with CaptureServer(APP_REPLY) as app, live_listen(tmp_path, "--forward-to", app.url) as ls:
        page = tab.page
        inspector.open_page(page, ls.inspector)
        record_id = ls.send(body, headers)
        inspector.wait_row(page, record_id)
        app.wait_requests(1)
        inspector.select(page, record_id)

        shown = {name.lower(): value for name, value in inspector.header_rows(page)}
        for name, value in headers.items():
            assert shown.get(name.lower()) == value, (name, shown)
        assert inspector.text(page, "#detail-body-raw") == body.decode()
        size = re.sub(r"[\s,.\u202f\u00a0']", "", inspector.text(page, "#detail-size"))
        assert str(len(body)) in size, inspector.text(page, "#detail-size")
        pretty = inspector.text(page, "#detail-body-pretty")
        assert "héllo ✓ «quoted»" in pretty and "message.sent" in pretty
        assert inspector.download_body(page, tab.downloads or tmp_path) == body

        wait_for(lambda: page.locator("#detail-forwards .forward-attempt").count() == 1, 15,
                 "the forward attempt in the details")  # fmt: skip
        attempt = page.locator("#detail-forwards .forward-attempt").first.text_content() or ""
        assert "200" in attempt
        assert "X-App-Answer" in attempt or "x-app-answer" in attempt.lower(), attempt
        assert '{"handled":true}' in attempt or "handled" in attempt, attempt
        assert page.locator("#detail-diagnosis").count() == 0 or not page.is_visible(
            "#detail-diagnosis"
        )


def test_a_failed_signature_shows_the_clis_diagnosis(tab: Tab, tmp_path: Path) -> None:
    signed = event_body("message.sent", 7)  # the sender signed the compact JSON ...
    reencoded = json.dumps(json.loads(signed), indent=2).encode()  # ... then re-encoded it
    other = event_body("message.sent", 8)
    cases = [  # delivery, body, signature, what the CLI's words say
        ("dlv_diagnose001", reencoded, sign(signed, SECRET), "re-serialised as JSON"),
        ("dlv_diagnose002", other, sign(other, OTHER_SECRET), "does not match"),
        ("dlv_diagnose003", other, None, "missing"),
    ]
    with live_listen(tmp_path) as ls:
        page = tab.page
        inspector.open_page(page, ls.inspector)
        for delivery, body, signature, gist in cases:
            headers = headers_for(body, delivery, secret=None)
            if signature is not None:
                headers[SIGNATURE_HEADER] = signature
            expected = diagnosis_of(body, headers)
            assert gist in expected, expected
            record_id = ls.send(body, headers)
            inspector.wait_row(page, record_id)
            verdict_cell = inspector.cell(page, record_id, "verdict").lower()
            assert "✓" not in verdict_cell and verdict_cell.strip() != "valid", verdict_cell
            inspector.select(page, record_id)
            page.wait_for_selector("#detail-diagnosis", state="visible")
            shown = " ".join(inspector.text(page, "#detail-diagnosis").split())
            assert expected in shown, (delivery, shown)


def test_replay_sends_a_new_attempt_verbatim_or_resigned_linked_to_the_original(
    tab: Tab, tmp_path: Path
) -> None:
    body = event_body("message.sent", 11, note="replay me")
    headers = headers_for(body, "dlv_replay00001", secret=OTHER_SECRET)  # fails here
    with CaptureServer(APP_REPLY) as app, live_listen(tmp_path, "--forward-to", app.url) as ls:
        page = tab.page
        inspector.open_page(page, ls.inspector)
        original = ls.send(body, headers)
        inspector.wait_row(page, original)
        before = len(app.requests)

        inspector.select(page, original)
        page.click("#replay-verbatim")
        verbatim = app.wait_requests(before + 1)[before]
        assert verbatim.body == body
        assert verbatim.header(SIGNATURE_HEADER) == headers[SIGNATURE_HEADER]
        assert verbatim.header(DELIVERY_HEADER) == headers[DELIVERY_HEADER]
        wait_for(lambda: len(inspector.replay_rows_of(page, original)) == 1, 15,
                 "a replay row linked to the original")  # fmt: skip
        first = inspector.replay_rows_of(page, original)[0]
        assert inspector.row_ids(page)[0] == first  # the newest row

        inspector.select(page, original)
        page.click("#replay-resigned")
        resigned = app.wait_requests(before + 2)[before + 1]
        assert resigned.body == body
        assert resigned.header(SIGNATURE_HEADER) != headers[SIGNATURE_HEADER]
        assert verify(body, resigned.header(SIGNATURE_HEADER), SECRET).valid
        wait_for(lambda: len(inspector.replay_rows_of(page, original)) == 2, 15,
                 "the second replay row")  # fmt: skip
        inspector.select(page, original)
        replays = inspector.text(page, "#detail-replays")
        for replay_id in inspector.replay_rows_of(page, original):
            assert replay_id in replays or "200" in replays, replays
        assert SECRET not in page.content() and OTHER_SECRET not in page.content()


HOSTILE_BODIES = {
    # JSON whose strings hold everything a shell treats specially
    "json-shell-metacharacters": json.dumps(
        {"type": "message.sent", "data": {"text": 'it\'s 100% $HOME `id` \\ "q" \n !x %s %%'}},
        ensure_ascii=False,
    ).encode(),
    # not JSON, not UTF-8: NUL, 0xff, a lone quote, printf's % and backslash escapes
    "binary": b"\x00\xff\xfe'\"%s%%\\n\\x41\\101\r\n\tend\x80",
}


@pytest.mark.parametrize("body", HOSTILE_BODIES.values(), ids=HOSTILE_BODIES.keys())
def test_copy_as_curl_reproduces_the_request_byte_for_byte(
    tab: Tab, tmp_path: Path, body: bytes
) -> None:
    headers = headers_for(body, "dlv_curl0000001")
    with CaptureServer(APP_REPLY) as app, live_listen(tmp_path, "--forward-to", app.url) as ls:
        page = tab.page
        inspector.open_page(page, ls.inspector)
        record_id = ls.send(body, headers)
        inspector.wait_row(page, record_id)
        inspector.select(page, record_id)
        command = inspector.curl_command(page)
        assert SECRET not in command
        before = len(app.requests)
        done = subprocess.run(
            ["sh", "-c", command], capture_output=True, timeout=30, check=False, cwd=tmp_path
        )
        assert done.returncode == 0, (command, done.stderr)
        again: Captured = app.wait_requests(before + 1)[before]
        assert again.method == "POST" and again.body == body
        assert again.header("Content-Type") == headers["Content-Type"]
        assert again.header(DELIVERY_HEADER) == headers[DELIVERY_HEADER]
        assert verify(body, again.header(SIGNATURE_HEADER), SECRET).valid


def test_hostile_bodies_and_headers_render_as_text(tab: Tab, tmp_path: Path) -> None:
    markup = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    as_json = json.dumps(
        {
            "type": "<img src=x onerror=alert(3)>",
            "data": {"text": markup, "escape": "\x1b[31mred\x1b[0m \x1b]0;title\x07"},
        }
    ).encode()
    raw = b"<script>alert(4)</script><img src=x onerror=window.__pwned=1>\x1b[2J\x1b]0;t\x07 end"
    with live_listen(tmp_path) as ls:
        page = tab.page
        inspector.open_page(page, ls.inspector)
        baseline = inspector.injected(page)
        first = ls.send(
            as_json,
            headers_for(as_json, "dlv_hostile0001", **{"X-Note": "<script>alert(5)</script>"}),
        )
        second = ls.send(raw, headers_for(raw, "dlv_hostile0002"))
        inspector.wait_rows(page, [first, second])
        assert "<img src=x onerror=alert(3)>" in inspector.cell(page, first, "type")

        inspector.select(page, first)
        shown = inspector.text(page, "#detail-body-raw")
        assert shown == as_json.decode()  # the markup is there, as text
        assert page.get_by_text("<script>alert(1)</script>", exact=False).count() >= 1
        headers = {name.lower(): value for name, value in inspector.header_rows(page)}
        assert headers["x-note"] == "<script>alert(5)</script>"

        inspector.select(page, second)
        raw_view = inspector.text(page, "#detail-body-raw")
        assert "<script>alert(4)</script>" in raw_view
        assert "\x1b" not in raw_view and "\x07" not in raw_view, repr(raw_view)
        assert "\\x1b" in raw_view or "\u241b" in raw_view or "\\u001b" in raw_view, raw_view
        assert inspector.download_body(page, tab.downloads or tmp_path) == raw

        assert inspector.injected(page) == baseline
        assert tab.dialogs == []


def test_filters_and_search_narrow_the_list(tab: Tab, tmp_path: Path) -> None:
    def answer(request: Captured) -> Reply:
        return Reply(500, b"broken") if b"fail-me" in request.body else APP_REPLY

    with CaptureServer(answer) as app, live_listen(tmp_path, "--forward-to", app.url) as ls:
        page = tab.page
        inspector.open_page(page, ls.inspector)
        bodies = {
            "sent": event_body("message.sent", 1, text="an ordinary message"),
            "delivered": event_body("message.delivered", 2, text="Zebra-42 was here"),
            "failing": event_body("message.sent", 3, text="fail-me please"),
            "forged": event_body("message.read", 4, text="forged"),
        }
        ids = {}
        for n, (name, body) in enumerate(bodies.items()):
            secret = OTHER_SECRET if name == "forged" else SECRET
            ids[name] = ls.send(body, headers_for(body, f"dlv_filter{n:05d}", secret=secret))
        everything = list(ids.values())
        inspector.wait_rows(page, everything)
        app.wait_requests(3)  # the forged event is not forwarded
        wait_for(lambda: "500" in inspector.cell(page, ids["failing"], "forwards"), 15,
                 "the failed forward's status in its row")  # fmt: skip

        inspector.set_filter(page, "#filter-type", "message.delivered")
        inspector.wait_rows(page, [ids["delivered"]], "only message.delivered")
        inspector.set_filter(page, "#filter-type", None)
        inspector.wait_rows(page, everything, "every row again")

        inspector.set_filter(page, "#filter-verdict", "invalid")
        inspector.wait_rows(page, [ids["forged"]], "only the forged event")
        inspector.set_filter(page, "#filter-verdict", None)

        inspector.set_filter(page, "#filter-forward", "failed")
        inspector.wait_rows(page, [ids["failing"]], "only the event whose forward failed")
        inspector.set_filter(page, "#filter-forward", None)
        inspector.wait_rows(page, everything, "every row again")

        inspector.set_filter(page, "#search", "zEBRA-42")  # any case
        inspector.wait_rows(page, [ids["delivered"]], "only the body that mentions zebra-42")
        inspector.set_filter(page, "#search", "")
        inspector.wait_rows(page, everything, "every row after clearing the search")
