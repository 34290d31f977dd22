"""The record/report step: every answered request becomes one `Received`, written to the session
log before the answer is sent and then handed to the sink."""

from __future__ import annotations

import itertools
import os

from apimw_cli.models import Verdict
from apimw_cli.protocol import DELIVERY_HEADER
from apimw_cli.receiver.events import Received, Sink
from apimw_cli.receiver.recorder import Recorder
from apimw_cli.receiver.seen import Seen

__all__ = ["Arrival", "Reporter", "new_record_id"]

_DELIVERY = DELIVERY_HEADER.lower()  # headers arrive with lower-case names

# Record ids count up from a random start: unique within a session and sorted by receipt, and
# unlikely to meet another session's. (A random id per request cost a getrandom() syscall.)
_record_ids = itertools.count(int.from_bytes(os.urandom(6), "big"))


def new_record_id() -> str:
    """A short unique id for one received request: ``rec_`` and 12 hex digits."""
    # %-formatting: an f-string parses its format spec on every call (a third more work here).
    return "rec_%012x" % (next(_record_ids) & 0xFFFF_FFFF_FFFF)


class Arrival:
    """What is known of a request before its body: what every report of it repeats."""

    __slots__ = ("headers", "method", "path", "received_at", "record_id")

    def __init__(
        self, record_id: str, received_at: float, method: str, path: str, headers: dict[str, str]
    ) -> None:
        self.record_id = record_id
        self.received_at = received_at
        self.method = method
        self.path = path
        self.headers = headers


class Reporter:
    """Records each answered request (when there is a session log) and reports it to the sink.

    An event the log cannot take (a full disk, say) is refused: its status becomes 503 and its
    note the reason, so APIMW delivers it again and nothing acknowledged is off the disk.
    """

    __slots__ = ("_recorder", "_sink")

    def __init__(self, recorder: Recorder | None, sink: Sink) -> None:
        self._recorder = recorder
        self._sink = sink

    def report(
        self,
        arrival: Arrival,
        status: int,
        kind: str,
        body: bytes = b"",
        *,
        event_type: str | None = None,
        verdict: Verdict | None = None,
        duplicate: bool = False,
        filtered: bool = False,
        note: str | None = None,
        locate: bool = False,
        prior: Seen | None = None,
        strict_json: bool = False,
    ) -> tuple[Received, tuple[int, int] | None]:
        """The `Received`, and with `locate` where its line is in the log (`Recorder`)."""
        headers = arrival.headers
        # Positional, in the order of Received's fields: keywords make a class call gather them
        # in a dict first, which cost 1 µs of this per-request call (measured: 1.4 against 0.4).
        received = Received(
            arrival.record_id,
            arrival.received_at,
            arrival.method,
            arrival.path,
            headers,
            body,
            status,
            kind,
            event_type,
            headers.get(_DELIVERY),  # delivery_id
            verdict,
            duplicate,
            filtered,
            note,
            None,  # record_error
            1 if prior is None else prior.attempts + 1,  # attempt
            None if prior is None else prior.status,  # previous_status
            strict_json,
        )
        where = None
        if self._recorder is not None:
            try:
                where = self._recorder.write_request(received, locate=locate)
            except OSError as exc:  # a full disk, say: refuse what cannot be kept
                reason = exc.strerror or str(exc) or type(exc).__name__
                received.record_error = reason
                if kind == "event":  # 5xx so APIMW delivers it again later
                    received.status = 503
                    received.note = f"not recorded: {reason}"
        self._sink(received)
        return received, where
