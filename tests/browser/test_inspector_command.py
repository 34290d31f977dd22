"""`apimw events inspect SESSION --to URL --resign-env VAR` as users run it (a child process):
its page, in headless Chromium, replays a recorded event re-signed to the app, and its curl
command carries a fresh signature without ever showing the secret."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from apimw_cli.protocol import SIGNATURE_HEADER
from apimw_cli.signing import sign, verify
from tests.browser import page as inspector
from tests.browser.conftest import Tab
from tests.browser.support import (
    OTHER_SECRET,
    SECRET,
    SECRET_ENV,
    event_body,
    headers_for,
    received,
    write_log,
)
from tests.support.capture import CaptureServer, Reply
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.timeout(60)]


def test_events_inspect_replays_a_past_event_resigned_to_the_app(tab: Tab, tmp_path: Path) -> None:
    body = event_body("message.sent", 5)
    headers = headers_for(body, "dlv_command00001", secret=OTHER_SECRET)  # rotated since
    forged = verify(body, headers[SIGNATURE_HEADER], SECRET)
    log = write_log(tmp_path / "past.jsonl", [received(1, body, headers, at=1.0, verdict=forged)])
    with CaptureServer(Reply(200, b"ok")) as app:
        process = subprocess.Popen(
            [sys.executable, "-m", "apimw_cli", "events", "inspect", str(log), "--no-open",
             "--port", "0", "--to", app.url, "--resign-env", SECRET_ENV],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, SECRET_ENV: SECRET},
        )  # fmt: skip
        try:
            assert process.stdout is not None
            url = json.loads(process.stdout.readline())["url"]  # piped: one JSON line
            page = tab.page
            inspector.open_page(page, url)
            inspector.select(page, "rec_000000000001")
            assert page.is_visible("#detail-diagnosis")
            page.click("#replay-resigned")
            sent = app.wait_requests(1)[0]
            assert sent.body == body
            assert sent.header(SIGNATURE_HEADER) == sign(body, SECRET)
            wait_for(lambda: inspector.replay_rows_of(page, "rec_000000000001"), 15, "the replay")
            command = inspector.curl_command(page)
            assert sign(body, SECRET) in command and SECRET not in command
            assert SECRET not in page.content()
        finally:
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=30)
        assert process.returncode == 0, err
        assert SECRET not in out + err
