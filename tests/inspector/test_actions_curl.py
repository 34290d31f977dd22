"""Copy as curl (apimw_cli/inspector/actions.py): the command, run by sh (and bash), sends the
recorded request again byte for byte: method, path, every header a replay sends, the body;
re-signed with a fresh signature, and never the secret."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apimw_cli.inspector.actions import ActionRefused, Actions, Source, printf_format
from apimw_cli.inspector.logindex import LogIndex
from apimw_cli.models import Received
from apimw_cli.receiver.recorder import Recorder
from apimw_cli.receiver.replay import replay_headers
from apimw_cli.signing import sign
from tests.receiver.support import RawApp, RawRequest, received

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")

SECRET = "whsec_curl_test_secret"
SHELLS = [shell for shell in ("sh", "bash", "zsh") if shutil.which(shell)]
# What curl itself writes: the connection's own headers, not the request's.
CURLS_OWN = {b"host", b"content-length"}

BODIES = {
    "json": b'{"type":"message.sent","data":{"text":"hi"}}',
    "nul": b"a\x00b\x00\x00",
    "quotes": b"it's \"quoted\" ''' \"\"",
    "percent": b"100% %s %d %% %b %n",
    "backslashes": b"\\ \\\\ \\n \\0 \\x41 \\101 \\c",
    "newlines": b"line 1\nline 2\r\n\n\n",
    "not utf-8": b"\xff\xfe\x80 caf\xe9 \xc3(",
    "escape sequences": b"\x1b[2J\x1b]0;t\x07 $(echo no) `echo no` ${HOME} !! !$",
    "leading dash": b"-n -e --help",
    "every byte": bytes(range(256)),
    "empty": b"",
    "100 KB": (b'{"k":"' + b"v" * 1024 + b'"},') * 100,
}


def event(body: bytes, **changes: Any) -> Received:
    headers = {
        "host": "abc.ngrok.app",
        "content-type": "application/json",
        "content-length": str(len(body)),
        "user-agent": "APIMW-Webhooks/1.0",
        "x-apimw-signature": sign(body, "whsec_old"),
        "x-apimw-delivery": "dlv_curl",
        "x-quote": 'it\'s a "test" $HOME `x` %s \\',
        "connection": "keep-alive",
        "expect": "100-continue",
    }
    return dataclasses.replace(received(1), body=body, headers=headers, **changes)


def index_with(tmp_path: Path, rec: Received) -> LogIndex:
    log = tmp_path / f"session-{uuid.uuid4().hex}.jsonl"  # Hypothesis reuses tmp_path
    with Recorder(log) as recorder:
        recorder.write_request(rec)
    index = LogIndex(log)
    index.refresh()
    return index


def run(command: str, shell: str, tmp_path: Path) -> None:
    """Run `command` as a user pasting it would: with `shell -c`, or from a script file when
    the command is past what one argument of a new process may hold (128 KB on Linux)."""
    if len(command) < 100_000:
        args = [shell, "-c", command]
    else:
        script = tmp_path / "curl.sh"
        script.write_text(command)
        args = [shell, str(script)]
    done = subprocess.run(args, capture_output=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr


def sent_headers(hit: RawRequest) -> list[tuple[bytes, bytes]]:
    return sorted((k.lower(), v) for k, v in hit.headers if k.lower() not in CURLS_OWN)


def expected_headers(rec: Received, resign: str | None) -> list[tuple[bytes, bytes]]:
    wire = replay_headers(dict(rec.headers), rec.body, resign, marked=False)
    return sorted((k.lower(), v) for k, v in wire)


def check_round_trip(tmp_path: Path, rec: Received, mode: str, shell: str) -> str:
    index = index_with(tmp_path, rec)
    with RawApp() as app:
        source = Source(
            log=index.path,
            live=False,
            target=app.base_url + "/hooks/app?x=1",
            receive_url=None,
            secret=SECRET,
        )
        command = Actions(index, source).curl(rec.record_id, mode)
        run(command, shell, tmp_path)
        [hit] = app.wait(1)
    assert (hit.method, hit.target) == (rec.method.encode(), b"/hooks/app?x=1")
    assert hit.body == rec.body
    assert sent_headers(hit) == expected_headers(rec, SECRET if mode == "resigned" else None)
    assert SECRET not in command
    return command


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("name", list(BODIES))
def test_the_command_sends_the_request_byte_for_byte(tmp_path: Path, shell: str, name: str) -> None:
    check_round_trip(tmp_path, event(BODIES[name]), "verbatim", shell)


@pytest.mark.parametrize("shell", SHELLS)
def test_a_resigned_command_carries_a_fresh_signature_not_the_secret(
    tmp_path: Path, shell: str
) -> None:
    body = BODIES["not utf-8"]
    command = check_round_trip(tmp_path, event(body), "resigned", shell)
    assert sign(body, SECRET) in command and "whsec_old" not in command


def test_the_mode_defaults_to_resigned_when_a_secret_is_known(tmp_path: Path) -> None:
    rec = event(b"{}")
    index = index_with(tmp_path, rec)
    with_secret = Actions(index, Source(index.path, False, "http://127.0.0.1:1/", None, SECRET))
    without = Actions(index, Source(index.path, False, "http://127.0.0.1:1/", None, None))
    assert sign(b"{}", SECRET) in with_secret.curl(rec.record_id)
    assert sign(b"{}", "whsec_old") in without.curl(rec.record_id)
    with pytest.raises(ActionRefused, match="no webhook secret"):
        without.curl(rec.record_id, "resigned")


@pytest.mark.parametrize("shell", SHELLS)
def test_headers_with_latin1_bytes_tabs_and_empty_values_are_sent_as_recorded(
    tmp_path: Path, shell: str
) -> None:
    rec = event(b"{}")
    headers = {
        **rec.headers,
        "x-latin": "caf\u00e9 \u00ff",
        "x-tab": "a\tb",
        "x-empty": "",
        "x-dash": "-H 'x: y'",
    }
    check_round_trip(tmp_path, dataclasses.replace(rec, headers=headers), "verbatim", shell)


@pytest.mark.parametrize("shell", SHELLS)
def test_curls_own_headers_are_not_added_when_the_request_had_none(
    tmp_path: Path, shell: str
) -> None:
    rec = dataclasses.replace(received(1), body=b"x", headers={"x-only": "1"}, method="PUT")
    check_round_trip(tmp_path, rec, "verbatim", shell)  # no Accept, User-Agent, Content-Type


def test_without_a_target_it_goes_to_listens_own_url_at_the_path_received(tmp_path: Path) -> None:
    rec = dataclasses.replace(event(b"{}"), path="/webhooks/apimw?a=[1]")
    index = index_with(tmp_path, rec)
    with RawApp() as app:
        source = Source(index.path, True, None, app.base_url + "/other", None)
        command = Actions(index, source).curl(rec.record_id)
        run(command, "sh", tmp_path)
        [hit] = app.wait(1)
    assert hit.target == b"/webhooks/apimw?a=[1]"
    none = Actions(index, Source(index.path, True, None, None, None))
    with pytest.raises(ActionRefused, match="no URL to send to"):
        none.curl(rec.record_id)


def test_a_record_that_cannot_be_sent_is_refused(tmp_path: Path) -> None:
    rec = dataclasses.replace(event(b"{}"), headers={"x-bad": "a\nb"})
    index = index_with(tmp_path, rec)
    actions = Actions(index, Source(index.path, False, "http://127.0.0.1:1/", None, None))
    with pytest.raises(ActionRefused, match="has an LF in its value"):
        actions.curl(rec.record_id)
    with pytest.raises(ActionRefused) as unknown:
        actions.curl("rec_nope")
    assert unknown.value.status == 404


def test_the_printf_format_is_safe_printable_ascii() -> None:
    fmt = printf_format(bytes(range(256)) * 2)
    assert fmt.startswith("'") and fmt.endswith("'") and "'" not in fmt[1:-1]
    assert all(0x20 <= ord(c) < 0x7F for c in fmt)
    assert printf_format(b"") == "''"
    assert printf_format(b"%") == "'%%'" and printf_format(b"\\") == "'\\134'"


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.binary(max_size=400))
def test_any_body_round_trips(tmp_path: Path, body: bytes) -> None:
    check_round_trip(tmp_path, event(body), "verbatim", "sh")
