"""The session log of `apimw listen`: one JSON line per received request and per forward.

Each line is written with a single `os.write` on a file opened with O_APPEND before the request
is answered, so an acknowledged event is on disk (in the page cache) even if the process dies
right after; no fsync. `apimw events log` and `apimw events replay` read the file back with
`read_records`.

Line format, schema 2 (a request line; `headers` keeps the names as received, lower case):

    {"schema": 2, "record": "request", "id": "rec_...", "received_at": <unix float>,
     "method": "POST", "path": "/...", "headers": {...}, "body": "..." | "body_b64": "...",
     "event_type": str|null, "delivery_id": str|null,
     "kind": "event"|"challenge"|"invalid"|"rejected", "status": int, "duplicate": bool,
     "verdict": {"code", "reason", "diagnosis", "matched_secret"} | null}

The body is `body`, the text, when it is UTF-8 (so a log is readable and greppable, and
encoding it costs half of base64), else `body_b64`; `record_body` gives back the exact bytes
either way. Schema 1 lines, which always carried `body_b64`, are read the same.

A forward line, written when a forward to one target ends (after its request line), with the
app's answer:

    {"schema": 2, "record": "forward", "id": "rec_...", "target": url, "status": int|null,
     "ms": float, "error": str|null, "at": <unix float>,
     "response_headers": [[name, value], ...], "response_body": "..." | "response_body_b64": "...",
     "response_truncated": true}

`response_headers` keeps the names as the app sent them (values decoded as latin-1); the answer
body, text or base64 as for a request's body, is what the forwarder kept: at most
RESPONSE_BODY_LIMIT bytes; `response_truncated` is only there when the answer was longer (the
body holds its first part). Lines written before these fields existed have none of them: read
them as no answer kept.

A replay line, written when the inspector replays a recorded request (`write_record` with
`replay_record`); `id` is the replay's own, `of` the request it re-sent:

    {"schema": 2, "record": "replay", "id": "rec_...", "of": "rec_...",
     "mode": "verbatim"|"resigned", "target": url, "status": int|null, "ms": float,
     "error": str|null, "response_headers": [...], "response_body"|"response_body_b64": ...,
     ["response_truncated": true,] "at": <unix float>}

Readers skip the record kinds they do not know (`apimw events` reads requests and forwards only).
URLs in forward and replay lines have their credentials masked; no secret is ever written.
"""

from __future__ import annotations

import binascii
import errno
import json
import os
import stat
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from apimw_cli.models import Verdict, VerdictMemo
from apimw_cli.output.masking import mask_url
from apimw_cli.receiver.events import Forwarded, Received
from apimw_cli.receiver.relay import ANSWER_LIMIT
from apimw_cli.receiver.retention import hold_shared
from apimw_cli.settings import make_private_dir

__all__ = [
    "RESPONSE_BODY_LIMIT",
    "SCHEMA",
    "Recorder",
    "encode_request",
    "forward_record",
    "parse_line",
    "read_line",
    "read_records",
    "record_body",
    "replay_record",
    "request_record",
    "spill_line",
]

SCHEMA = 2
# The most of an app's answer body a forward or replay line keeps: what the relays keep.
RESPONSE_BODY_LIMIT = ANSWER_LIMIT
_dumps = json.JSONEncoder(ensure_ascii=True, separators=(",", ":")).encode


def request_record(received: Received) -> dict[str, Any]:
    """The `request` line (schema 2, see above) for one received request, as a dict."""
    verdict = received.verdict
    return _request_record(received, None if verdict is None else _verdict_fields(verdict))


def _request_record(received: Received, verdict: dict[str, Any] | None) -> dict[str, Any]:
    body = received.body
    try:
        body_key, text = (
            "body",
            body.decode("utf-8"),
        )  # strict: encoding it again gives the same bytes
    except UnicodeDecodeError:
        body_key, text = "body_b64", binascii.b2a_base64(body, newline=False).decode("ascii")
    headers = received.headers
    return {
        "schema": SCHEMA,
        "record": "request",
        "id": received.record_id,
        "received_at": received.received_at,
        "method": received.method,
        "path": received.path,
        # The receiver's own dict, not a copy: the line is encoded at once.
        "headers": headers if type(headers) is dict else dict(headers),
        body_key: text,
        "event_type": received.event_type,
        "delivery_id": received.delivery_id,
        "kind": received.kind,
        "status": received.status,
        "duplicate": received.duplicate,
        "verdict": verdict,
    }


def _verdict_fields(verdict: Verdict) -> dict[str, Any]:
    return {
        "code": str(verdict.code),
        "reason": verdict.reason,
        "diagnosis": verdict.diagnosis,
        "matched_secret": verdict.matched_secret,
    }


def _body_fields(body: bytes) -> dict[str, str]:
    try:
        return {"body": body.decode("utf-8")}  # strict: encoding it again gives the same bytes
    except UnicodeDecodeError:
        return {"body_b64": binascii.b2a_base64(body, newline=False).decode("ascii")}


def record_body(record: dict[str, Any]) -> bytes:
    """The exact body bytes of a `request` record (either form; b"" when it has none)."""
    text = record.get("body")
    if isinstance(text, str):
        return text.encode("utf-8")
    return binascii.a2b_base64(str(record.get("body_b64") or ""))


def encode_request(received: Received) -> bytes:
    """The `request` line for `received`, newline included: `request_record` as compact JSON."""
    return _line(request_record(received))


def _line(record: dict[str, Any]) -> bytes:
    """One JSONL line. orjson, as this runs for every request on the receiver's event loop; the
    stdlib for what orjson refuses (a lone surrogate, from a body's JSON escapes)."""
    try:
        return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)
    except orjson.JSONEncodeError:
        return _dumps(record).encode("ascii") + b"\n"


def forward_record(forwarded: Forwarded, at: float) -> dict[str, Any]:
    """The `forward` line (schema 2, see above) for one forward outcome, as a dict."""
    record = {
        "schema": SCHEMA,
        "record": "forward",
        "id": forwarded.record_id,
        "target": mask_url(forwarded.target),  # a log is no place for a URL's password
        "status": forwarded.status,
        "ms": forwarded.ms,
        "error": None if forwarded.error is None else mask_url(forwarded.error),
        "at": at,
    }
    _add_answer(
        record,
        forwarded.response_headers,
        forwarded.response_body,
        forwarded.response_truncated,
    )
    return record


def replay_record(
    *,
    record_id: str,
    of: str,
    mode: str,
    target: str,
    status: int | None,
    ms: float,
    error: str | None,
    response_headers: Iterable[tuple[str, str]] = (),
    response_body: bytes = b"",
    response_truncated: bool = False,
    at: float | None = None,
) -> dict[str, Any]:
    """The `replay` line (schema 2, see above) for one replay of request `of`, as a dict."""
    record: dict[str, Any] = {
        "schema": SCHEMA,
        "record": "replay",
        "id": record_id,
        "of": of,
        "mode": mode,
        "target": mask_url(target),
        "status": status,
        "ms": ms,
        "error": None if error is None else mask_url(error),
    }
    _add_answer(record, response_headers, response_body, response_truncated)
    record["at"] = time.time() if at is None else at
    return record


def _add_answer(
    record: dict[str, Any],
    headers: Iterable[tuple[str, str]],
    body: bytes,
    truncated: bool,
) -> None:
    """The app's answer into a forward or replay line: headers, body (cut at the cap), cut.
    (A forward line is written on the receiver's loop: no copies made that need not be.)"""
    if len(body) > RESPONSE_BODY_LIMIT:
        body, truncated = body[:RESPONSE_BODY_LIMIT], True
    # Pairs as they are: a tuple is written as an array, [name, value].
    record["response_headers"] = headers if type(headers) is tuple else tuple(headers)
    try:
        record["response_body"] = body.decode("utf-8")  # strict: gives back the same bytes
    except UnicodeDecodeError:
        record["response_body_b64"] = binascii.b2a_base64(body, newline=False).decode("ascii")
    if truncated:
        record["response_truncated"] = True


class Recorder:
    """Appends records to a JSONL file; safe to call from several threads.

    The file is created (or made) mode 0600, as it holds event bodies, and its missing parent
    directories 0700; it is locked (shared) while open, so pruning never removes it. An
    existing file is appended to; if it ends in a torn line (a crash mid-write), a newline is
    added first so new records start on their own line.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        make_private_dir(self.path.parent)
        self._lock = threading.Lock()
        self._verdicts = VerdictMemo(_verdict_fields)  # the same verdict for every valid event
        self._torn = False  # a failed write left part of a line that could not be removed
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | _O_CLOEXEC | _O_NONBLOCK
        self._fd: int | None = os.open(self.path, flags, 0o600)
        try:
            _regular_only(self._fd, self.path)
            if _O_NONBLOCK:
                os.set_blocking(self._fd, True)
            _make_private(self._fd)
            hold_shared(self._fd)  # in use: retention.prune leaves it alone
            if _ends_torn(self.path):
                self._write(b"\n", False)
        except BaseException:
            self.close()
            raise

    def write_request(self, received: Received, *, locate: bool = False) -> tuple[int, int] | None:
        """Append the `request` line for `received`; returns once it is written.

        With `locate`, returns where the line sits (offset, length) so it can be read back
        (`read_line`). Raises OSError when the line could not be written whole (nothing of it
        is left in the file then, or, if even that failed, the next line starts on its own).
        """
        fields = self._verdicts(received.verdict)
        return self._write(_line(_request_record(received, fields)), locate)

    def write_forward(self, forwarded: Forwarded, at: float | None = None) -> None:
        """Append the `forward` line for `forwarded` (`at` defaults to now)."""
        self._write(_line(forward_record(forwarded, time.time() if at is None else at)), False)

    def write_record(self, record: dict[str, Any]) -> None:
        """Append any record as one line (a `replay` line: see `replay_record`). Raises OSError
        as `write_request` does."""
        self._write(_line(record), False)

    def _write(self, data: bytes, locate: bool) -> tuple[int, int] | None:
        with self._lock:
            fd = self._fd
            if fd is None:
                raise ValueError(f"the recorder for {self.path} is closed")
            if self._torn:
                data = b"\n" + data
            written = 0
            try:
                written = _os_write(fd, data)
                while written < len(data):  # a regular file takes it all at once, unless full
                    written += _os_write(fd, memoryview(data)[written:])
            except OSError:
                # All or nothing: take back the part that got in, so the next line does not
                # start inside this one (55 of 56 readable otherwise, after a full disk).
                self._torn = written > 0 and not _take_back(fd, written)
                raise
            self._torn = False
            if not locate:
                return None
            end = os.lseek(fd, 0, os.SEEK_CUR)  # O_APPEND left the offset at our line's end
            return end - len(data), len(data)

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


_os_write = os.write  # tests replace it to play a full disk
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
# Opening a pipe with no reader fails at once (ENXIO) instead of hanging (POSIX; not Windows).
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


def _regular_only(fd: int, path: Path) -> None:
    """A session log is a regular file: it is appended to, made private and read back. A
    device (/dev/null) must not be chmod-ed 0600 (as root, that breaks it for everyone)."""
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        raise OSError(errno.EINVAL, "not a regular file", str(path))


def _make_private(fd: int) -> None:
    """An existing log of ours that others may read (an older apimw made it 0644) becomes 0600."""
    info = os.fstat(fd)
    if info.st_uid == os.getuid() and info.st_mode & 0o077:
        os.fchmod(fd, 0o600)


def _take_back(fd: int, written: int) -> bool:
    """Truncate the `written` bytes a failed write appended; False when that fails too."""
    try:
        os.ftruncate(fd, os.fstat(fd).st_size - written)
    except OSError:
        return False
    return True


def read_line(path: Path, offset: int, length: int) -> dict[str, Any] | None:
    """The record written at (offset, length) of `path` (see `write_request`), or None."""
    fd = os.open(path, os.O_RDONLY | _O_CLOEXEC)
    try:
        data = os.pread(fd, length, offset)
    finally:
        os.close(fd)
    return parse_line(data)


def spill_line(record_id: str, body: bytes, headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """A line in the format `read_line` reads, for an event kept outside the session log."""
    fields = {name.decode("latin-1"): value.decode("latin-1") for name, value in headers}
    return _line({"id": record_id, "headers": fields, **_body_fields(body)})


def parse_line(line: bytes) -> dict[str, Any] | None:
    """One line of a session log as a record, or None if it is not a JSON object."""
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        try:  # what orjson refuses but _line may have written: a lone surrogate
            record = json.loads(line)
        except (ValueError, RecursionError):  # RecursionError: nested too deep
            return None
    return record if isinstance(record, dict) else None


def _ends_torn(path: Path) -> bool:
    with path.open("rb") as file:
        file.seek(0, os.SEEK_END)
        if file.tell() == 0:
            return False
        file.seek(-1, os.SEEK_END)
        return file.read(1) != b"\n"


class SkippedLines:
    """A counter `read_records` adds to: the lines it skipped as unreadable (not a JSON object)."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0


def read_records(path: Path | str, skipped: SkippedLines | None = None) -> Iterator[dict[str, Any]]:
    """Yield the records of a session log in file order.

    Lines that are not a JSON object are skipped: records are only ever written whole, so such
    a line is a torn write (typically the last line of a log whose process was killed), or the
    file was edited. Pass `skipped` to count them (blank lines are not counted).
    """
    with Path(path).open("rb") as file:
        for line in file:
            if not line.strip():
                continue
            record = parse_line(line)
            if record is not None:
                yield record
            elif skipped is not None:
                skipped.count += 1
