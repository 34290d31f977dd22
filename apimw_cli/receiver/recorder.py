"""The session log of `apimw listen`: one JSON line per received request and per forward.

Each line is written with a single `os.write` on a file opened with O_APPEND before the request
is answered, so an acknowledged event is on disk (in the page cache) even if the process dies
right after; no fsync. `apimw events log` and `apimw events replay` read the file back with
`read_records`.

Line format, schema 1 (a request line; `headers` keeps the names as received, lower case):

    {"schema": 1, "record": "request", "id": "rec_...", "received_at": <unix float>,
     "method": "POST", "path": "/...", "headers": {...}, "body_b64": "...",
     "event_type": str|null, "delivery_id": str|null,
     "kind": "event"|"challenge"|"invalid"|"rejected", "status": int, "duplicate": bool,
     "verdict": {"code", "reason", "diagnosis", "matched_secret"} | null}

and a forward line, written when a forward to one target ends (after its request line):

    {"schema": 1, "record": "forward", "id": "rec_...", "target": url, "status": int|null,
     "ms": float, "error": str|null, "at": <unix float>}
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import threading
import time
from collections.abc import Iterator
from json.encoder import encode_basestring_ascii as _quote
from pathlib import Path
from typing import Any

from apimw_cli.models import Verdict
from apimw_cli.receiver.events import Forwarded, Received

__all__ = [
    "SCHEMA",
    "Recorder",
    "encode_request",
    "forward_record",
    "read_records",
    "request_record",
]

SCHEMA = 1
_dumps = json.JSONEncoder(ensure_ascii=True, separators=(",", ":")).encode


def request_record(received: Received) -> dict[str, Any]:
    """The schema-1 `request` line for one received request, as a dict."""
    verdict = received.verdict
    return {
        "schema": SCHEMA,
        "record": "request",
        "id": received.record_id,
        "received_at": received.received_at,
        "method": received.method,
        "path": received.path,
        "headers": dict(received.headers),
        "body_b64": base64.b64encode(received.body).decode("ascii"),
        "event_type": received.event_type,
        "delivery_id": received.delivery_id,
        "kind": received.kind,
        "status": received.status,
        "duplicate": received.duplicate,
        "verdict": None
        if verdict is None
        else {
            "code": str(verdict.code),
            "reason": verdict.reason,
            "diagnosis": verdict.diagnosis,
            "matched_secret": verdict.matched_secret,
        },
    }


def _opt(value: str | None) -> str:
    return "null" if value is None else _quote(value)


# The receiver hands the same Verdict objects over and over (one per secret when valid): their
# JSON is cached by identity, which is cheaper than hashing the dataclass. The cache keeps each
# verdict alive, so an id is never reused while it is in the cache.
_verdict_cache: dict[int, tuple[Verdict, str]] = {}


def _verdict_json(verdict: Verdict | None) -> str:
    if verdict is None:
        return "null"
    hit = _verdict_cache.get(id(verdict))
    if hit is not None and hit[0] is verdict:
        return hit[1]
    text = _dumps(
        {
            "code": str(verdict.code),
            "reason": verdict.reason,
            "diagnosis": verdict.diagnosis,
            "matched_secret": verdict.matched_secret,
        }
    )
    if len(_verdict_cache) >= 256:
        _verdict_cache.clear()
    _verdict_cache[id(verdict)] = (verdict, text)
    return text


def encode_request(received: Received) -> bytes:
    """The `request` line for `received`, newline included: `request_record` as compact JSON.

    Built by hand because it runs once per request on the receiver's event loop: the base64
    body needs no escaping and the verdicts repeat, which halves the cost of json.dumps.
    """
    body = binascii.b2a_base64(received.body, newline=False).decode("ascii")
    headers_json = ",".join([_quote(k) + ":" + _quote(v) for k, v in received.headers.items()])
    line = (
        f'{{"schema":{SCHEMA},"record":"request","id":{_quote(received.record_id)},'
        f'"received_at":{float(received.received_at)!r},"method":{_quote(received.method)},'
        f'"path":{_quote(received.path)},"headers":{{{headers_json}}},'
        f'"body_b64":"{body}","event_type":{_opt(received.event_type)},'
        f'"delivery_id":{_opt(received.delivery_id)},"kind":{_quote(received.kind)},'
        f'"status":{int(received.status)},"duplicate":{"true" if received.duplicate else "false"},'
        f'"verdict":{_verdict_json(received.verdict)}}}\n'
    )
    return line.encode("ascii")


def forward_record(forwarded: Forwarded, at: float) -> dict[str, Any]:
    """The schema-1 `forward` line for one forward outcome, as a dict."""
    return {
        "schema": SCHEMA,
        "record": "forward",
        "id": forwarded.record_id,
        "target": forwarded.target,
        "status": forwarded.status,
        "ms": forwarded.ms,
        "error": forwarded.error,
        "at": at,
    }


class Recorder:
    """Appends records to a JSONL file; safe to call from several threads.

    The file is created with mode 0600 (it holds event bodies) and its parent directories as
    needed. An existing file is appended to; if it ends in a torn line (a crash mid-write), a
    newline is added first so new records start on their own line.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._fd: int | None = os.open(
            self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600
        )
        try:
            if _ends_torn(self.path):
                self._write(b"\n")
        except BaseException:
            self.close()
            raise

    def write_request(self, received: Received) -> None:
        """Append the `request` line for `received`; returns once it is written."""
        self._write(encode_request(received))

    def write_forward(self, forwarded: Forwarded, at: float | None = None) -> None:
        """Append the `forward` line for `forwarded` (`at` defaults to now)."""
        line = forward_record(forwarded, time.time() if at is None else at)
        self._write(_dumps(line).encode("ascii") + b"\n")

    def _write(self, data: bytes) -> None:
        with self._lock:
            if self._fd is None:
                raise ValueError(f"the recorder for {self.path} is closed")
            view = memoryview(data)
            while view:  # a regular file takes it all at once; loop in case it does not
                written = os.write(self._fd, view)
                view = view[written:]

    @property
    def closed(self) -> bool:
        return self._fd is None

    def close(self) -> None:
        """Close the file; idempotent."""
        with self._lock:
            fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _ends_torn(path: Path) -> bool:
    with path.open("rb") as file:
        file.seek(0, os.SEEK_END)
        if file.tell() == 0:
            return False
        file.seek(-1, os.SEEK_END)
        return file.read(1) != b"\n"


def read_records(path: Path | str) -> Iterator[dict[str, Any]]:
    """Yield the records of a session log in file order.

    Lines that are not a JSON object are skipped: records are only ever written whole, so such
    a line is a torn write (typically the last line of a log whose process was killed).
    """
    with Path(path).open("rb") as file:
        for line in file:
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                yield record
