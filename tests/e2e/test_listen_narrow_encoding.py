"""`listen` whose stdout cannot encode every character (a latin-1 locale, a pipe on Windows,
PYTHONIOENCODING=ascii): events from outside hold any character, and none of them stops
listen; NDJSON stays JSON that means the same, the live view shows escapes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.waiting import wait_for_file

BODY = {"type": "msg.✓😀", "text": "é ✓ 😀 \u2028 \x1b]0;pwned\x07"}


@pytest.mark.parametrize("encoding", ["latin-1", "ascii"])
@pytest.mark.parametrize("output", ["ndjson", "pretty"])
def test_an_event_the_stdout_cannot_encode_does_not_stop_listen(
    tmp_path: Path, encoding: str, output: str
) -> None:
    ready = tmp_path / "listen.ready"
    proc = subprocess.Popen(
        [sys.executable, "-m", "apimw_cli", "listen", "--port", "0", "--no-tunnel",
         "--skip-verify", "--no-inspect", "--format", output, "--ready-file", str(ready)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONIOENCODING": encoding},  # strict, as a locale's would be
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
        assert "msg.\\u2713\\U0001f600" in text
