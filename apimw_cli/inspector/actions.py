"""The inspector's actions on a recorded request: replay it to the forward target (verbatim or
re-signed, through receiver/replay.py, as `apimw events replay` does) and give a curl command
that sends it again byte for byte.

The webhook secret is used to sign and never leaves this module: not in a row, a message, a
command (a curl command carries the signature, computed here) or the log.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from apimw_cli.inspector.logindex import LogIndex
from apimw_cli.receiver.recorder import Recorder, replay_record

__all__ = ["MODES", "ActionRefused", "Actions", "Source", "curl_command", "printf_format"]

MODES = ("verbatim", "resigned")
_METHOD = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,20}")
# Bytes a printf format and a single-quoted shell word take as themselves.
_SAFE = frozenset(range(0x20, 0x7F)) - {ord("'"), ord("\\"), ord("%")}
_ESCAPED = [
    chr(byte) if byte in _SAFE else "%%" if byte == 0x25 else f"\\{byte:03o}" for byte in range(256)
]
# Headers curl adds of its own unless told not to (an empty `-H 'Name:'` removes one).
_CURL_OWN = ("accept", "user-agent", "content-type")


@dataclass(frozen=True)
class Source:
    """Where the inspected session's requests can be sent, and how."""

    log: Path
    live: bool
    target: str | None  # the forward target: replays go there
    receive_url: str | None  # listen's own URL (curl's fallback)
    secret: str | None = field(default=None, repr=False)  # signs; never shown
    timeout: float = 30.0


class ActionRefused(Exception):
    """An action that cannot be done, for a reason the user can fix; `status` is the HTTP
    status to answer with (404: no such row, else 409)."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class Actions:
    """Replay and curl for the rows of `index`; see the module docstring."""

    def __init__(self, index: LogIndex, source: Source, *, recorder: Recorder | None = None):
        self.index = index
        self.source = source
        self._recorder = recorder  # listen's own, when live; else one opened on first use
        self._opening = threading.Lock()

    # --- replay -------------------------------------------------------------------------------

    def replay(self, record_id: str, mode: str) -> dict[str, Any]:
        """Send row `record_id`'s request (a replay row: the request it re-sent) to the
        target; append a replay line and return the new row (kept in memory, with a note,
        when the log cannot take it)."""
        from apimw_cli.receiver.replay import Unsendable, body_of, replay_headers
        from apimw_cli.receiver.replay import client as replay_client
        from apimw_cli.receiver.replay import replay as send

        original, record = self._request(record_id)
        target = self.source.target
        if target is None:
            raise ActionRefused(
                "no replay target: listen with --forward-to URL, or inspect with --to URL"
            )
        resign = self._signing(mode)
        try:
            body = body_of(record)
            replay_headers(record.get("headers"), body, resign)
        except Unsendable as why:
            raise ActionRefused(f"this request cannot be sent as recorded: {why}") from None
        with replay_client(self.source.timeout) as client:
            result = send(client, target, original, body, record.get("headers"), resign)
        line = replay_record(
            record_id=f"rec_{secrets.token_hex(6)}",
            of=original,
            mode=mode,
            target=target,
            status=result.status,
            ms=round(result.ms, 3),
            error=result.error,
            response_headers=result.response_headers,
            response_body=result.response_body,
            response_truncated=result.response_truncated,
            at=time.time(),
        )
        return self._keep(line)

    def _keep(self, line: dict[str, Any]) -> dict[str, Any]:
        """Append the replay line and give its row; in memory when the log cannot take it."""
        try:
            with self._opening:
                recorder = self._recorder
                if recorder is None or recorder.closed:
                    if not self.source.log.is_file():  # not made anew where it was removed
                        raise FileNotFoundError(f"{self.source.log.name} is gone")
                    recorder = self._recorder = Recorder(self.source.log)
            recorder.write_record(line)
        except (OSError, ValueError) as error:
            why = getattr(error, "strerror", None) or str(error) or type(error).__name__
            return self.index.add_replay(line, f"not recorded: {why}")
        self.index.refresh()
        row = self.index.row(line["id"])
        if row is None:  # the file was replaced meanwhile: not in the index's file
            return self.index.add_replay(line, "not recorded: the session log was replaced")
        return row

    def close(self) -> None:
        """Close the recorder this opened (not one it was given)."""
        recorder, self._recorder = self._recorder, None
        if recorder is not None:
            recorder.close()

    # --- curl --------------------------------------------------------------------------------

    def curl(self, record_id: str, mode: str | None = None) -> str:
        """A command for sh, bash or zsh that sends row `record_id`'s request again, byte for
        byte (see `curl_command`): to the target, else to listen's own URL at the path it was
        received on. `mode` defaults to resigned when a secret is known."""
        from apimw_cli.receiver.replay import Unsendable, body_of, replay_headers

        if mode is None:
            mode = "resigned" if self.source.secret else "verbatim"
        _, record = self._request(record_id)
        resign = self._signing(mode)
        url = self._curl_url(record)
        try:
            body = body_of(record)
            headers = replay_headers(record.get("headers"), body, resign, marked=False)
        except Unsendable as why:
            raise ActionRefused(f"this request cannot be sent as recorded: {why}") from None
        method = record.get("method")
        if not isinstance(method, str) or not _METHOD.fullmatch(method):
            method = "POST"
        return curl_command(method, url, headers, body)

    def _curl_url(self, record: dict[str, Any]) -> str:
        if self.source.target is not None:
            return self.source.target
        base = self.source.receive_url
        if base is None:
            raise ActionRefused("no URL to send to: this session has no forward target")
        path = record.get("path")
        if isinstance(path, str) and path.startswith("/") and path.isprintable():
            parts = urlsplit(base)
            return f"{parts.scheme}://{parts.netloc}{path}"
        return base

    # --- shared ------------------------------------------------------------------------------

    def _request(self, record_id: str) -> tuple[str, dict[str, Any]]:
        """The record id and the parsed request line of row `record_id` (a replay row: its
        original's)."""
        row = self.index.row(record_id)
        if row is None:
            raise ActionRefused(f"no event {record_id!r} in this session", 404)
        original = row["replay_of"] if row["kind"] == "replay" else row["id"]
        record = self.index.record(record_id)
        if record is None or not isinstance(original, str):
            raise ActionRefused("the recorded request cannot be read back from the log")
        recorded_id = record.get("id")
        return (recorded_id if isinstance(recorded_id, str) else original), record

    def _signing(self, mode: str) -> str | None:
        if mode not in MODES:
            raise ActionRefused(f"mode must be one of {', '.join(MODES)}")
        if mode == "verbatim":
            return None
        if not self.source.secret:
            raise ActionRefused(
                "no webhook secret known to re-sign with: give one with --resign, "
                "--resign-env or --resign-file"
            )
        return self.source.secret


# --- the curl command ------------------------------------------------------------------------


def printf_format(data: bytes) -> str:
    """`data` as a printf format, inside single quotes: printable ASCII as itself, `%` as
    `%%`, every other byte (quote, backslash, controls, non-ASCII) as a 3-digit octal escape,
    which sh, bash and zsh printf all read the same way."""
    if not data:
        return "''"
    # A leading `-` would read as an option: escaped like the rest.
    first = _ESCAPED[data[0]] if data[0] != 0x2D else "\\055"
    return "'" + first + "".join(map(_ESCAPED.__getitem__, data[1:])) + "'"


def _word(data: bytes) -> str:
    """`data` as one shell word: single-quoted when it is printable ASCII (a quote as
    '\\''), else built by printf in a command substitution (never ends in a newline here)."""
    if all(0x20 <= byte < 0x7F for byte in data):
        return "'" + data.decode("ascii").replace("'", "'\\''") + "'"
    return '"$(printf ' + printf_format(data) + ')"'


def curl_command(method: str, url: str, headers: list[tuple[bytes, bytes]], body: bytes) -> str:
    """`printf '<body>' | curl -sS -X METHOD URL -H ... --data-binary @-`: sends `headers`
    (as wire bytes) and `body` as they are, and nothing curl would add of its own (Accept,
    User-Agent, Content-Type unless given; `Expect: 100-continue` never)."""
    given = {name.lower().decode("latin-1") for name, _ in headers}
    words = ["curl", "-sS", "-X", _word(method.encode("ascii")), _word(url.encode("utf-8"))]
    if any(char in url for char in "[]{}"):
        words.insert(2, "--globoff")
    if "/." in urlsplit(url).path:
        words.insert(2, "--path-as-is")
    for name, value in headers:
        # curl drops a header given as `Name:`; `Name;` sends it with an empty value.
        line = name + b";" if not value else name + b": " + value
        words += ["-H", _word(line)]
    for own in _CURL_OWN:
        if own not in given:
            words += ["-H", _word(own.title().encode("ascii") + b":")]
    words += ["-H", "'Expect:'", "--data-binary", "@-"]
    return f"printf {printf_format(body)} | " + " ".join(words)
