"""What the browser tests drive: a real `apimw listen` (a child process, its inspector's URL
from the NDJSON `ready` record) or the inspector alone over a prepared session log (in this
process, through the inspector's own `server.start`), and the signed events they send."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from apimw_cli.models import Forwarded, Received
from apimw_cli.protocol import DELIVERY_HEADER, SIGNATURE_HEADER
from apimw_cli.signing import sign, verify
from tests.support.waiting import wait_for

SECRET = "whsec_browser_test_secret"
OTHER_SECRET = "whsec_someone_elses_secret"
SECRET_ENV = "APIMW_BROWSER_TEST_SECRET"


def event_body(event_type: str = "message.sent", n: int = 0, **data: Any) -> bytes:
    payload = {
        "type": event_type,
        "timestamp": "2026-11-30T10:30:00Z",
        "data": {"message_id": f"wamid.BROWSER{n}", "to": "+15551234567", **data},
    }
    return json.dumps(payload, separators=(",", ":")).encode()


def headers_for(
    body: bytes, delivery: str, secret: str | None = SECRET, **extra: str
) -> dict[str, str]:
    """Headers as APIMW sends them: signed with `secret` (None: unsigned)."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "APIMW-Webhooks/1.0",
        DELIVERY_HEADER: delivery,
    }
    if secret is not None:
        headers[SIGNATURE_HEADER] = sign(body, secret)
    headers.update(extra)
    return headers


def diagnosis_of(body: bytes, headers: dict[str, str]) -> str:
    """The words the CLI gives for this event's signature (the page must show the same)."""
    verdict = verify(body, headers.get(SIGNATURE_HEADER), SECRET)
    assert not verdict.valid
    return verdict.diagnosis or verdict.reason


@dataclass
class LiveListen:
    """`apimw listen --no-tunnel --format ndjson` in a child process."""

    process: subprocess.Popen[str]
    log: Path
    records: list[dict[str, Any]] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            with self.lock:
                self.records.append(record)

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr.append(line.rstrip())

    def record(self, kind: str, **match: Any) -> dict[str, Any]:
        """The first NDJSON record of `kind` whose fields match, once listen printed it."""

        def found() -> dict[str, Any] | None:
            with self.lock:
                for record in self.records:
                    if record.get("record") == kind and all(
                        record.get(k) == v for k, v in match.items()
                    ):
                        return record
            if self.process.poll() is not None:
                raise AssertionError(f"listen exited: {self.stderr[-20:]}")
            return None

        return wait_for(found, 30, f"listen's {kind} record {match}")

    @property
    def ready(self) -> dict[str, Any]:
        return self.record("ready")

    @property
    def inspector(self) -> str:
        url = self.ready.get("inspector")
        assert isinstance(url, str), f"no inspector URL in the ready record: {self.ready}"
        return url

    @property
    def receive_url(self) -> str:
        url = self.ready["receive_url"]
        assert isinstance(url, str)
        return url

    def send(self, body: bytes, headers: dict[str, str]) -> str:
        """POST one event to listen; returns its record id (from listen's event record)."""
        answer = httpx.post(self.receive_url, content=body, headers=headers, timeout=10)
        assert answer.status_code < 500, answer.text
        event = self.record("event", delivery_id=headers[DELIVERY_HEADER])
        record_id = event["id"]
        assert isinstance(record_id, str)
        return record_id


@contextmanager
def live_listen(tmp_path: Path, *args: str) -> Iterator[LiveListen]:
    """listen, verifying with SECRET, recording to tmp_path/session.jsonl, ready to receive."""
    log = tmp_path / "session.jsonl"
    command = [
        sys.executable, "-m", "apimw_cli", "listen", "--no-tunnel", "--port", "0",
        "--secret-env", SECRET_ENV, "--format", "ndjson", "--record", str(log),
        "--ready-file", str(tmp_path / "ready"), "--inspect-port", "0", *args,
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        env={**os.environ, SECRET_ENV: SECRET, "PYTHONFAULTHANDLER": "1"},
    )
    running = LiveListen(process, log)
    threads = [
        threading.Thread(target=running._read, daemon=True),
        threading.Thread(target=running._read_stderr, daemon=True),
    ]
    for thread in threads:
        thread.start()
    try:
        running.ready  # noqa: B018 (waits for it)
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGABRT)  # faulthandler: every thread's stack
            process.wait(10)
        for thread in threads:
            thread.join(5)
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()


# --------------------------------------------------------------------------- a prepared log


def received(
    n: int,
    body: bytes,
    headers: dict[str, str],
    *,
    at: float,
    verdict: Any = None,
    duplicate: bool = False,
    status: int = 200,
    kind: str = "event",
    attempt: int = 1,
) -> Received:
    """A request as listen's receiver reports it (names lower case, as received)."""
    payload: dict[str, Any] = {}
    try:
        loaded = json.loads(body)
        payload = loaded if isinstance(loaded, dict) else {}
    except (ValueError, RecursionError):
        pass
    lowered = {name.lower(): value for name, value in headers.items()}
    return Received(
        record_id=f"rec_{n:012x}",
        received_at=at,
        method="POST",
        path="/",
        headers=lowered,
        body=body,
        status=status,
        kind=kind,
        attempt=attempt,
        event_type=payload.get("type") if isinstance(payload.get("type"), str) else None,
        delivery_id=lowered.get(DELIVERY_HEADER.lower()),
        duplicate=duplicate,
        verdict=verdict,
    )


def write_log(path: Path, items: Sequence[Received | Forwarded]) -> Path:
    """A session log holding these requests and forwards, written as listen writes one (a
    forward's time: its request's plus its latency)."""
    from apimw_cli.receiver.recorder import Recorder

    recorder = Recorder(path)
    times: dict[str, float] = {}
    try:
        for item in items:
            if isinstance(item, Received):
                recorder.write_request(item)
                times[item.record_id] = item.received_at
            else:
                at = times.get(item.record_id, time.time()) + item.ms / 1000
                recorder.write_forward(item, at)
    finally:
        recorder.close()
    return path


@dataclass
class Inspecting:
    url: str
    log: Path
    secret: str | None


@contextmanager
def inspector_over(
    log: Path,
    *,
    target: str | None,
    secret: str | None = SECRET,
    live: bool = False,
    title: str = "apimw events inspect",
) -> Iterator[Inspecting]:
    """The inspector alone over `log` (as `apimw events inspect` runs it), on a free port."""
    from apimw_cli.inspector.actions import Actions, Source
    from apimw_cli.inspector.logindex import LogIndex
    from apimw_cli.inspector.server import start

    index = LogIndex(log)
    source = Source(log=log, live=live, target=target, receive_url=None, secret=secret)
    actions = Actions(index, source)
    info = {"title": title, "target": target, "receive_url": None}
    running = start(index, actions, info, port=0)
    try:
        yield Inspecting(running.url, log, secret)
    finally:
        running.stop()


def until(condition: Any, what: str, timeout: float = 15) -> Any:
    """wait_for with the browser tests' usual patience."""
    return wait_for(condition, timeout, what)
