"""A stdout that cannot encode every character (a latin-1 locale, a pipe on Windows,
PYTHONIOENCODING=ascii): events from outside hold any character, and none of them stops
`listen` or `events log`; JSON stays JSON that means the same, text shows escapes."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from apimw_cli.receiver.recorder import Recorder
from apimw_cli.stream_encoding import JSON_ESCAPE, escape_what_it_cannot_encode
from tests.receiver.support import received
from tests.support.waiting import wait_for_file

BODY = {"type": "msg.✓😀", "text": "é ✓ 😀 \u2028 \x1b]0;pwned\x07"}
# Python's default errors for such a stream are strict, as a locale's would be.
NARROW = pytest.mark.parametrize("encoding", ["latin-1", "ascii"])


@NARROW
@pytest.mark.parametrize("output", ["ndjson", "pretty"])
def test_an_event_the_stdout_cannot_encode_does_not_stop_listen(
    tmp_path: Path, encoding: str, output: str
) -> None:
    ready = tmp_path / "listen.ready"
    proc = subprocess.Popen(
        [sys.executable, "-m", "apimw_cli", "listen", "--port", "0", "--no-tunnel",
         "--skip-verify", "--no-inspect", "--format", output, "--ready-file", str(ready)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONIOENCODING": encoding},
    )  # fmt: skip
    try:
        url = wait_for_file(ready, proc, 30, "listen to be ready")
        answer = httpx.post(url, content=json.dumps(BODY, ensure_ascii=False).encode())
        assert answer.status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode(errors="replace")
    assert b"Traceback" not in err and b"unexpected" not in err, err
    assert b"\x1b]" not in out  # the escape sequence never raw
    text = out.decode(encoding)  # what the stream carries, in its own encoding
    if output == "ndjson":
        records = [json.loads(line) for line in text.splitlines()]
        [event] = [r for r in records if r["record"] == "event"]
        assert event["body"] == BODY and event["type"] == "msg.✓😀"
    else:
        # The sender's symbols as escapes; ours (the arrow) as an ASCII stand-in.
        assert "  -> msg.\\u2713\\ud83d\\ude00" in text, text
        assert "\\u2192" not in text


@NARROW
@pytest.mark.parametrize("output", ["json", "table"])
def test_events_log_shows_recorded_events_the_stdout_cannot_encode(
    tmp_path: Path, encoding: str, output: str
) -> None:
    log = tmp_path / "session.jsonl"
    body = json.dumps(BODY, ensure_ascii=False).encode()
    with Recorder(log) as recorder:
        recorder.write_request(dataclasses.replace(received(1), body=body, event_type="msg.✓😀"))
    done = subprocess.run(
        [sys.executable, "-m", "apimw_cli", "--output", output, "events", "log", str(log)],
        capture_output=True, timeout=60, check=False,
        env={**os.environ, "PYTHONIOENCODING": encoding},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert b"\x1b]" not in done.stdout
    text = done.stdout.decode(encoding)
    if output == "json":
        [row] = json.loads(text)
        assert row["type"] == "msg.✓😀"
    else:
        assert "msg.\\u2713\\ud83d\\ude00" in text


def test_only_a_strict_stream_is_changed() -> None:
    strict = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    escape_what_it_cannot_encode(strict)
    assert strict.errors == JSON_ESCAPE
    strict.write("✓😀é")
    strict.flush()
    assert strict.buffer.getvalue() == b"\\u2713\\ud83d\\ude00\\u00e9"
    chosen = io.TextIOWrapper(io.BytesIO(), encoding="ascii", errors="replace")
    escape_what_it_cannot_encode(chosen)
    assert chosen.errors == "replace"  # the user's choice stands
    escape_what_it_cannot_encode(io.StringIO())  # no errors to change: nothing happens
