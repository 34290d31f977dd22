"""The inspector from the command line: `apimw listen` serves it (its URL in the banner and the
NDJSON `ready` record; --inspect-port, --no-inspect, none with --no-record, the next free port
when 4040 is taken, a clean error when a chosen port is), it stops with listen, and
`apimw events inspect` serves a recorded session and replays from it."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from apimw_cli.protocol import DELIVERY_HEADER, SIGNATURE_HEADER
from apimw_cli.sandbox.server import RunningSandbox
from apimw_cli.session.inspection import OFF_WITHOUT_LOG
from apimw_cli.signing import sign, verify
from tests.e2e.inspect_support import Child, listening_ports, start_inspect, token_of
from tests.e2e.listen_process import start_listen
from tests.support.capture import CaptureServer, Reply
from tests.support.cli import run
from tests.support.waiting import wait_for

SECRET = "whsec_inspect_e2e_secret_0001"
SECRET_ENV = "APIMW_INSPECT_TEST_SECRET"
URL = re.compile(r"^http://127\.0\.0\.1:(\d+)/$")


@pytest.fixture(autouse=True)
def secret_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)


def event_body(n: int = 0, event_type: str = "message.sent") -> bytes:
    payload = {"type": event_type, "data": {"message_id": f"wamid.INSPECT{n}", "to": "+1555"}}
    return json.dumps(payload, separators=(",", ":")).encode()


def deliver(url: str, body: bytes, delivery: str, signed: bytes | None = None) -> httpx.Response:
    """POST `body` as APIMW would, signed with SECRET (over `signed` instead, to break it)."""
    headers = {
        "Content-Type": "application/json",
        DELIVERY_HEADER: delivery,
        SIGNATURE_HEADER: sign(body if signed is None else signed, SECRET),
    }
    return httpx.post(url, content=body, headers=headers, trust_env=False)


def client(base: str) -> httpx.Client:
    return httpx.Client(base_url=base, trust_env=False, timeout=10)


@contextlib.contextmanager
def listening(tmp_path: Path, *args: str) -> Iterator[tuple[Child, str, dict[str, Any]]]:
    """`apimw listen --no-tunnel --format ndjson ARGS`: the process, its receive URL and its
    `ready` record; stopped with Ctrl-C at the end unless the test stopped it."""
    proc, receive_url = start_listen(
        tmp_path, "--no-tunnel", "--secret-env", SECRET_ENV, "--format", "ndjson", *args
    )
    child = Child(proc)
    try:
        [ready] = child.wait_records("ready")
        yield child, receive_url, ready
    finally:
        child.stop()


def rows(base: str) -> list[dict[str, Any]]:
    with client(base) as http:
        answer = http.get("/api/events")
    assert answer.status_code == 200, answer.text
    return list(answer.json()["rows"])


def port_is_closed(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


# --- listen serves it ----------------------------------------------------------------------


def test_listen_serves_the_inspector_with_its_events_and_stops_it(tmp_path: Path) -> None:
    log = tmp_path / "session.jsonl"
    with listening(tmp_path, "--record", str(log), "--inspect-port", "0") as (proc, url, ready):
        inspector = ready["inspector"]
        match = URL.match(inspector)
        assert match, inspector
        port = int(match.group(1))
        with client(inspector) as http:
            page = http.get("/")
            assert page.status_code == 200
            assert page.headers["content-type"].startswith("text/html")
            assert 'name="apimw-token"' in page.text
        good, bad = event_body(1), event_body(2)
        assert deliver(url, good, "dlv_good").status_code == 200
        # Signed over the body re-serialised: a failure the CLI explains in words.
        reserialised = json.dumps(json.loads(bad)).encode()
        refused = deliver(url, bad, "dlv_bad", signed=reserialised)
        assert refused.status_code == 401

        def both_listed() -> list[dict[str, Any]] | None:
            found = rows(inspector)
            return found if len(found) >= 2 else None

        listed = wait_for(both_listed, timeout=10, what="both events listed by the inspector")
        events = proc.wait_records("event", count=2)
        ids = {e["verdict"]["valid"]: e["id"] for e in events}
        assert {r["id"] for r in listed} >= set(ids.values())
        with client(inspector) as http:
            detail = http.get(f"/api/events/{ids[False]}")
        assert detail.status_code == 200
        diagnosis = verify(bad, sign(reserialised, SECRET), SECRET).diagnosis
        assert diagnosis and diagnosis in json.dumps(detail.json())
        assert SECRET not in page.text + detail.text
        _, err = proc.stop()
    assert proc.process.returncode == 0, err
    assert port_is_closed(port), "the inspector still answers after listen exited"


def test_the_banner_names_the_inspector(tmp_path: Path) -> None:
    proc, _ = start_listen(tmp_path, "--no-tunnel", "--secret-env", SECRET_ENV,
                           "--inspect-port", "0")  # fmt: skip
    out, err = Child(proc).stop()
    assert proc.returncode == 0, err
    [line] = [line for line in err.splitlines() + out.splitlines() if line.startswith("inspector")]
    assert URL.match(line.split()[-1]), line


def test_forward_answers_reach_the_log_and_the_inspector(tmp_path: Path) -> None:
    answer = Reply(201, b'{"ok":true}', "application/json", headers={"X-App-Trace": "t-42"})
    log = tmp_path / "session.jsonl"
    with (
        CaptureServer(answer, keep_alive=True) as app,
        listening(
            tmp_path, "--record", str(log), "--inspect-port", "0", "--forward-to", app.url
        ) as (proc, url, ready),
    ):
        assert deliver(url, event_body(), "dlv_fwd").status_code == 200
        [forward] = proc.wait_records("forward")
        assert forward["status"] == 201
        with client(ready["inspector"]) as http:

            def answer_headers_shown() -> dict[str, Any] | None:
                found = http.get(f"/api/events/{forward['id']}").json()
                return found if "t-42" in json.dumps(found) else None

            detail = wait_for(
                answer_headers_shown, timeout=10, what="the app's answer headers in the detail"
            )
        assert "X-App-Trace" in json.dumps(detail)
        proc.stop()
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    [recorded] = [line for line in lines if line.get("record") == "forward"]
    assert ["X-App-Trace", "t-42"] in recorded["response_headers"]


def test_a_forward_still_in_flight_is_pending_then_failed(tmp_path: Path) -> None:
    """Live and forwarding: an event whose forward has not ended is "pending", not "none"."""
    with socket.socket() as silent:  # accepts (the kernel's backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        target = f"http://127.0.0.1:{silent.getsockname()[1]}/hooks"
        with listening(
            tmp_path, "--inspect-port", "0", "--forward-to", target, "--forward-timeout", "3s"
        ) as (proc, url, ready):
            assert deliver(url, event_body(), "dlv_slow").status_code == 200

            def state() -> str | None:
                found = rows(ready["inspector"])
                return found[0]["forward_state"] if found else None

            assert wait_for(state, timeout=10, what="the event listed") == "pending"
            proc.wait_records("forward", timeout=20)
            assert wait_for(
                lambda: state() == "failed", timeout=10, what="the timed-out forward shown"
            )
            proc.stop()


def test_no_inspect_serves_nothing(tmp_path: Path) -> None:
    with listening(tmp_path, "--no-inspect") as (proc, _, ready):
        assert ready["inspector"] is None
        if sys.platform == "linux":
            assert listening_ports(proc.pid) == {ready_port(ready)}
        out, err = proc.stop()
    assert proc.process.returncode == 0, err
    assert OFF_WITHOUT_LOG not in out + err


def ready_port(ready: dict[str, Any]) -> int:
    match = re.match(r"http://127\.0\.0\.1:(\d+)/", ready["receive_url"])
    assert match, ready
    return int(match.group(1))


def test_no_record_means_no_inspector_and_says_why(tmp_path: Path) -> None:
    with listening(tmp_path, "--no-record") as (proc, _, ready):
        assert ready["inspector"] is None
        if sys.platform == "linux":
            assert listening_ports(proc.pid) == {ready_port(ready)}
        out, err = proc.stop()
    assert proc.process.returncode == 0, err
    notes = [json.loads(line) for line in out.splitlines() if '"note"' in line]
    assert [n["message"] for n in notes if "inspector" in n["message"]] == [OFF_WITHOUT_LOG]


def test_no_record_says_why_in_words(tmp_path: Path) -> None:
    proc, _ = start_listen(tmp_path, "--no-tunnel", "--secret-env", SECRET_ENV, "--no-record")
    out, err = Child(proc).stop()
    assert proc.returncode == 0, err
    assert err.count(OFF_WITHOUT_LOG) == 1
    assert "inspector " not in out


@pytest.fixture
def port_4040_taken() -> Iterator[bool]:
    """127.0.0.1:4040 in use: held by this test when it is free (True), else already taken by
    another program, which may let it go at any moment (False)."""
    with socket.socket() as holder:
        try:
            holder.bind(("127.0.0.1", 4040))
        except OSError:
            yield False
            return
        holder.listen(1)
        yield True


def test_the_default_port_falls_back_to_the_next_free_one(
    tmp_path: Path, port_4040_taken: bool
) -> None:
    with listening(tmp_path) as (_, _, ready):
        match = URL.match(ready["inspector"])
        assert match, ready["inspector"]
        port = int(match.group(1))
        with client(ready["inspector"]) as http:
            assert http.get("/").status_code == 200
    if port == 4040 and not port_4040_taken:
        # Taken by another program when the test began, and let go before listen started.
        pytest.skip(
            "port 4040 was freed meanwhile by the program that held it: nothing to fall back from"
        )
    assert port != 4040


def test_a_chosen_port_in_use_is_a_clean_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run("listen", "--no-tunnel", "--skip-verify", "--port", "0",
                     "--inspect-port", str(port))  # fmt: skip
    assert result.exit_code == 1  # as for a busy receiver --port
    lines = result.stderr.splitlines()
    assert lines[0] == f"error: the inspector cannot listen on 127.0.0.1:{port}: the port is in use"
    assert lines[1].startswith("hint: ") and "--no-inspect" in lines[1]
    assert len(lines) == 2


def test_events_inspect_on_a_port_in_use_is_a_clean_error(tmp_path: Path) -> None:
    log, _ = recorded_session(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run("events", "inspect", str(log), "--port", str(port), "--no-open")
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0] == f"error: the inspector cannot listen on 127.0.0.1:{port}: the port is in use"
    assert lines[1] == "hint: pick another with --port (0: any free port)"
    assert len(lines) == 2


def test_the_inspector_stops_when_set_up_fails_after_it_started(
    running_sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In this process: the tunnel (started after the inspector) cannot open without an ngrok
    authtoken; the session's clean-up stops the inspector (its port closed, its thread gone)."""
    monkeypatch.delenv("NGROK_AUTHTOKEN", raising=False)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run("--sandbox", "listen", "--tunnel", "--port", "0", "--inspect-port", str(port))
    assert result.exit_code == 7, result.stderr
    assert "ngrok_authtoken" in result.stderr
    assert port_is_closed(port)
    assert not [t for t in threading.enumerate() if t.name.startswith("apimw-inspector")]


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--no-inspect"], "--inspect-port and --no-inspect exclude each other"),
        (["--no-record"], "--no-record keeps none"),
        (["--port", "4555"], "is the receiver's --port too"),
    ],
)
def test_inspect_port_conflicts_are_usage_errors(extra: list[str], words: str) -> None:
    result = run("listen", "--no-tunnel", "--skip-verify", "--inspect-port", "4555", *extra)
    assert result.exit_code == 2
    assert words in result.stderr


# --- events inspect ------------------------------------------------------------------------


def recorded_session(tmp_path: Path) -> tuple[Path, str]:
    """A session log with one signed event; the event's record id."""
    log = tmp_path / "recorded.jsonl"
    with listening(tmp_path, "--record", str(log), "--no-inspect") as (proc, url, _):
        assert deliver(url, event_body(7), "dlv_recorded").status_code == 200
        [event] = proc.wait_records("event")
    return log, str(event["id"])


def test_events_inspect_serves_a_recorded_session_and_replays_from_it(tmp_path: Path) -> None:
    log, record_id = recorded_session(tmp_path)
    with CaptureServer() as app:
        proc, announced = start_inspect(
            log, "--port", "0", "--to", app.url, "--resign-env", SECRET_ENV
        )
        try:
            base = announced["url"]
            assert URL.match(base) and announced["session"] == str(log)
            assert [r["id"] for r in rows(base) if r["id"] == record_id] == [record_id]
            with client(base) as http:
                token = token_of(http.get("/").text)
                refused = http.post(f"/api/events/{record_id}/replay", json={"mode": "resigned"})
                assert refused.status_code == 403  # no token
                replayed = http.post(
                    f"/api/events/{record_id}/replay",
                    json={"mode": "resigned"},
                    headers={"X-APIMW-Inspector-Token": token},
                )
            assert replayed.status_code == 200, replayed.text
            [request] = wait_for(lambda: app.requests, what="the replay at the app")
            assert request.body == event_body(7)
            assert verify(request.body, request.headers.get(SIGNATURE_HEADER), SECRET).valid
            lines = [json.loads(line) for line in log.read_text().splitlines()]
            [replay] = [line for line in lines if line.get("record") == "replay"]
            assert (replay["of"], replay["mode"], replay["status"]) == (record_id, "resigned", 200)
        finally:
            out, err = proc.stop(signal.SIGINT)
    assert proc.process.returncode == 0, err
    assert SECRET not in out + err
    match = URL.match(base)
    assert match and port_is_closed(int(match.group(1)))


def test_events_inspect_stops_on_sigterm(tmp_path: Path) -> None:
    log, _ = recorded_session(tmp_path)
    proc, announced = start_inspect(log, "--port", "0", global_args=("-o", "json"))
    _, err = proc.stop(signal.SIGTERM)
    assert proc.process.returncode == 0, err
    assert URL.match(announced["url"])


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_events_inspect_on_a_terminal_opens_the_browser(tmp_path: Path) -> None:
    """On a terminal: the fields for people, and the page opened with $BROWSER (a script
    here, which writes down the URL it was given)."""
    import pty

    log, _ = recorded_session(tmp_path)
    opened = tmp_path / "opened"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\nprintf %s "$1" > {opened}\n')
    browser.chmod(0o755)
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "apimw_cli", "events", "inspect", str(log), "--port", "0"],
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "BROWSER": str(browser)},
    )
    os.close(terminal)
    shown: list[bytes] = []

    def read_terminal() -> None:
        with contextlib.suppress(OSError):  # EIO once the process has closed it
            while chunk := os.read(controller, 4096):
                shown.append(chunk)

    reader = threading.Thread(target=read_terminal, daemon=True)
    reader.start()
    try:
        url = wait_for(
            lambda: opened.read_text() if opened.exists() else None,
            timeout=20,
            what="the browser opened",
        )
        assert URL.match(url)
        wait_for(lambda: url.encode() in b"".join(shown), what="the URL on the terminal")
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        reader.join(5)
        os.close(controller)
    assert proc.returncode == 0, err
    text = b"".join(shown).decode()
    assert re.search(rf"inspector\s+{re.escape(url)}", text), text
    assert "replay to" in text and "(nowhere: add --to URL)" in text


def test_events_inspect_serves_whatever_the_file_holds(tmp_path: Path) -> None:
    """A session file is untrusted: lines that are not JSON, not UTF-8, nested past any
    parser's depth, huge, or records with fields of every JSON type are shown or skipped,
    never a crash; the one good event among them is listed."""
    log, record_id = recorded_session(tmp_path)
    good = log.read_bytes()
    hostile = [
        b"\xff\xfe not utf-8 \x1b]2;pwned\x07",
        b"{" * 100_000,
        b'{"schema":2,"record":"request","id":' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"schema":2,"record":"request","id":"rec_x","headers":7,"body":{"a":1}}',
        b'{"schema":2,"record":"forward","id":"' + record_id.encode() + b'","status":"x"}',
        b"x" * 2_000_000,
        b"[1,2,3]",
        b"null",
    ]
    log.write_bytes(b"\n".join(hostile) + b"\n" + good + b'{"torn": ')
    proc, announced = start_inspect(log, "--port", "0")
    try:
        listed = rows(announced["url"])
        assert record_id in [row["id"] for row in listed]
        with client(announced["url"]) as http:
            assert http.get(f"/api/events/{record_id}").status_code == 200
    finally:
        _, err = proc.stop()
    assert proc.process.returncode == 0, err
    assert "Traceback" not in err


def test_events_inspect_without_a_session_is_a_usage_error() -> None:
    result = run("events", "inspect", "--no-open")
    assert result.exit_code == 2
    assert "no recorded session yet" in result.stderr
    assert "hint:" in result.stderr


def test_events_inspect_checks_its_options(tmp_path: Path) -> None:
    missing = run("events", "inspect", str(tmp_path / "nope.jsonl"))
    assert missing.exit_code == 2 and "no such session file" in missing.stderr
    bad_target = run("events", "inspect", "--to", "ftp://x", str(tmp_path / "nope.jsonl"))
    assert bad_target.exit_code == 2 and "not an http(s) URL" in bad_target.stderr
