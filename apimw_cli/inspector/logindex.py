"""The inspector's index of a session log: the rows of the page, live or past, from the file
`apimw listen` writes (recorder.py; read its docstring for the line format).

`refresh()` reads only what was appended since the last call, and only complete lines (a torn
last line waits for its newline; a file truncated, replaced or rewritten starts the index over,
seq numbers going on from where they were). Per line it costs a prefix check: a request line is
located (offset, length) and only its delivery id is read, from the line's tail (retries are
grouped by it); forward and replay lines are parsed at once and attached to their request by
id. A request's small fields (`Facts`: kind, type, status, verdict) are read from its line's
tail when first needed (a row shown, a filter) and kept; the rest of a row (time, method, path,
size) when it is shown, in a bounded cache; headers and bodies only for a detail. Memory: per
row its place in the file, its delivery id and, once read, its Facts (text cut at 200
characters); per forward its outcome; never a body (~570 B per event of a 100,000-event log
with half of them forwarded, ~730 B once every row's facts were read). Hostile content never
raises (see logfacts.py).

All methods are safe from several threads (one lock).

A row (`rows`, `latest`, `row`), every key always present:

    {"id": str,               # the request's record id (a replay's own id for a replay row);
                              # unique in the index: a record id seen again, or one that is not
                              # text, gets "<id>~<seq>" or "line-<seq>"
     "seq": int,              # 1, 2, ... in file order; newest first means highest first
     "kind": "event"|"challenge"|"invalid"|"rejected"|"replay"|"other",
     "received_at": float|null,   # unix time (a replay's: when it was sent)
     "method": str|null, "path": str|null,
     "event_type": str|null, "delivery_id": str|null,
     "status": int|null,      # what APIMW got from the receiver (null for a replay)
     "verdict": str|null,     # the signature verdict's code: valid, missing_header,
                              # malformed_header, mismatch, no_secret, skipped
     "duplicate": bool,
     "attempt": int|null,     # n-th request with this delivery id (retries share it), from 1;
                              # null without a delivery id
     "attempt_count": int,    # how many requests carry this delivery id (1 without one)
     "size": int|null,        # body bytes (null when the body cannot be read)
     "forwards": [{"target": str|null, "status": int|null, "ms": float|null,
                   "error": str|null}, ...],   # a replay row: its own outcome
     "forward_state": "ok"|"failed"|"none"|"pending",
     "replay_of": str|null,   # a replay row: the row id of the request it re-sent
     "mode": "verbatim"|"resigned"|null,       # a replay row's
     "replays": [str, ...],   # row ids of this request's replays, oldest first
     "note": str|null}        # e.g. a replay kept in memory only: "not recorded: ..."

A detail (`detail`): the row, and

    "headers": [[name, value], ...],   # as recorded (names lower case); a replay row: its
                                       # original's
    "body": {"size": int, "text": str|null (null when not UTF-8), "base64": str,
             "pretty": str|null, "pretty_error": str|null} | null (null: unreadable),
    "body_error": str|null,
    "verdict": {"code", "reason", "diagnosis"} | null,   # replaces the row's code
    "forwards": [{"target", "status", "ms", "error", "at",
                  "response_headers": [[name, value], ...],
                  "response_body": {"size", "text", "base64", "truncated"} | null}, ...],
    "attempts": [row, ...],   # the other requests with this delivery id, in file order
    "replays": [row, ...],    # replaces the row's ids
    "original": row | null    # a replay row: the request it re-sent

Filters: `type` an event type, or a glob (`message.*`); `verdict` one of valid, invalid
(malformed_header, mismatch), unsigned (missing_header), skipped (skipped, no_secret, or not
checked), or a verdict code itself; `forward` one of ok, failed, none, pending (see
`forward_state`: pending is an event of a live session that forwards, with no outcome yet); `q`
a case-insensitive substring of the body (its text, or its raw bytes).
"""

from __future__ import annotations

import bisect
import fnmatch
from dataclasses import dataclass
from typing import Any

from apimw_cli.inspector import logfacts as lf
from apimw_cli.inspector.details import answer_view, body_view, header_pairs, verdict_view
from apimw_cli.inspector.logstore import Entry, LogStore

__all__ = ["Filters", "LogIndex"]

MAX_GROUP_ROWS = 100  # attempts and replays listed in a detail

_VERDICTS = {
    "valid": frozenset({"valid"}),
    "invalid": frozenset({"malformed_header", "mismatch"}),
    "unsigned": frozenset({"missing_header"}),
    "skipped": frozenset({"skipped", "no_secret", None}),
}


@dataclass(frozen=True)
class Filters:
    type: str | None = None
    verdict: str | None = None
    forward: str | None = None
    q: str | None = None


class LogIndex(LogStore):
    """The rows of one session log; see the module docstring."""

    def add_replay(self, record: dict[str, Any], note: str) -> dict[str, Any]:
        """A replay that could not be written to the log, kept in memory (until the file is
        started over): its row, carrying `note`."""
        with self._lock:
            entry = self._add_replay(record, -1, 0, note)
            entry.memory = record
            return self._row(entry)

    def _forward_state(self, entry: Entry) -> str:
        if entry.replay is not None:
            return "ok" if entry.replay.outcome.ok else "failed"
        if entry.forwards:
            return "ok" if all(f.ok for f in entry.forwards) else "failed"
        if not (self.live and self.forwarding):
            return "none"
        facts = self._facts(entry)
        if facts.kind == "event" and not facts.duplicate:
            return "pending"
        return "none"

    def _row(self, entry: Entry) -> dict[str, Any]:
        replay = entry.replay
        source = replay.of if replay is not None else entry
        facts = self._facts(source) if source is not None else lf.UNREADABLE
        summary = self._summary(source) if source is not None else lf.NO_SUMMARY
        delivery = source.delivery if source is not None else None
        group = self._group(delivery)
        row: dict[str, Any] = {
            "id": entry.id,
            "seq": entry.seq,
            "kind": "replay" if replay is not None else facts.kind,
            "received_at": replay.outcome.at if replay is not None else summary.received_at,
            "method": summary.method,
            "path": summary.path,
            "event_type": facts.event_type,
            "delivery_id": delivery,
            "status": None if replay is not None else facts.status,
            "verdict": None if replay is not None else facts.verdict,
            "duplicate": replay is None and facts.duplicate,
            "attempt": None,
            "attempt_count": max(len(group), 1),
            "size": summary.size,
            "forwards": [replay.outcome.as_dict()]
            if replay is not None
            else [f.as_dict() for f in entry.forwards or ()],
            "forward_state": self._forward_state(entry),
            "replay_of": replay.of_id if replay is not None else None,
            "mode": replay.mode if replay is not None else None,
            "replays": [r.id for r in entry.replays or ()],
            "note": replay.note if replay is not None else None,
        }
        if replay is None and delivery is not None:
            row["attempt"] = _position(group, entry) + 1
        return row

    def _matches(self, entry: Entry, filters: Filters) -> bool:
        source = entry.replay.of if entry.replay is not None else entry
        facts = self._facts(source) if source is not None else lf.UNREADABLE
        if filters.type:
            kind = facts.event_type
            if kind is None or not (
                fnmatch.fnmatchcase(kind, filters.type)
                if any(c in filters.type for c in "*?[")
                else kind == filters.type
            ):
                return False
        if filters.verdict:
            wanted = _VERDICTS.get(filters.verdict, frozenset({filters.verdict}))
            if entry.replay is not None or facts.verdict not in wanted:
                return False
        if filters.forward and self._forward_state(entry) != filters.forward:
            return False
        if filters.q:
            body = self._body(source) if source is not None else None
            return body is not None and _contains(body, filters.q)
        return True

    def _body(self, entry: Entry) -> bytes | None:
        record = self._line(entry)
        return None if record is None else lf.body_bytes(record)

    def _request_of(self, entry: Entry) -> Entry | None:
        return entry.replay.of if entry.replay is not None else entry

    def rows(
        self, *, before: str | None = None, limit: int = 200, filters: Filters | None = None
    ) -> list[dict[str, Any]]:
        """Rows newest first: all, or those older than row `before` (none when it is not
        known); at most `limit` (ask for one more to know whether there are more)."""
        with self._lock:
            end = len(self._entries)
            if before is not None:
                known = self._ids.get(before)
                if known is None or known.seq <= self._seq_base:
                    return []
                end = known.seq - self._seq_base - 1
            out: list[dict[str, Any]] = []
            for index in range(end - 1, -1, -1):
                if len(out) >= limit:
                    break
                entry = self._entries[index]
                if filters is None or self._matches(entry, filters):
                    out.append(self._row(entry))
            return out

    def latest(
        self, after_seq: int, limit: int, filters: Filters | None = None
    ) -> tuple[list[dict[str, Any]], int]:
        """The rows with seq > `after_seq`, newest first, at most `limit`, and how many more
        there were (older than those given: the page reloads then)."""
        with self._lock:
            start = max(after_seq - self._seq_base, 0)
            if filters is None:  # no need to look at the ones left out
                count = max(len(self._entries) - start, 0)
                shown = self._entries[max(start, len(self._entries) - limit) :]
                return [self._row(e) for e in reversed(shown)], max(count - limit, 0)
            newer = [e for e in reversed(self._entries[start:]) if self._matches(e, filters)]
            return [self._row(e) for e in newer[:limit]], max(len(newer) - limit, 0)

    def forward_cursor(self) -> int:
        with self._lock:
            return self._updates_base + len(self._updates)

    def forward_updates(self, after: int) -> tuple[list[dict[str, Any]], int]:
        """The rows whose forwards or replays changed since cursor `after` (0: since the
        start), each once as `{"id", "forwards", "forward_state", "replays"}`; the new cursor."""
        with self._lock:
            start = max(after - self._updates_base, 0)
            changed = list(dict.fromkeys(self._updates[start:]))
            updates = []
            for entry in changed:
                row = self._row(entry)
                updates.append({key: row[key] for key in _UPDATE_KEYS})
            return updates, self._updates_base + len(self._updates)

    def row(self, record_id: str) -> dict[str, Any] | None:
        with self._lock:
            entry = self._ids.get(record_id)
            return None if entry is None else self._row(entry)

    def record(self, record_id: str) -> dict[str, Any] | None:
        """The parsed request line of row `record_id` (a replay row: of the request it
        re-sent), for replay and curl; None when unknown or unreadable."""
        with self._lock:
            entry = self._ids.get(record_id)
            source = None if entry is None else self._request_of(entry)
            if source is None:
                return None
            record = self._line(source)
            return None if record is None else dict(record)

    def body(self, record_id: str) -> bytes | None:
        """The exact body bytes of row `record_id` (a replay row: its request's)."""
        with self._lock:
            entry = self._ids.get(record_id)
            source = None if entry is None else self._request_of(entry)
            return None if source is None else self._body(source)

    def detail(self, record_id: str, *, body_forms: bool = True) -> dict[str, Any] | None:
        """Everything about one row (see the module docstring), None when unknown. Without
        `body_forms` the body is only `{size, pretty_error}` (no text, base64 or pretty: for a
        page that reads the bytes from `body`)."""
        with self._lock:
            entry = self._ids.get(record_id)
            if entry is None:
                return None
            detail = self._row(entry)
            source = self._request_of(entry)
            record = None if source is None else self._line(source)
            body = None if record is None else lf.body_bytes(record)
            detail["headers"] = header_pairs(None if record is None else record.get("headers"))
            detail["body"] = None if body is None else body_view(body, body_forms)
            detail["body_error"] = None if body is not None else _why_no_body(source, record)
            replay = entry.replay
            detail["verdict"] = (
                verdict_view(record.get("verdict"))
                if replay is None and record is not None
                else None
            )
            outcomes = [replay.outcome] if replay is not None else entry.forwards or []
            detail["forwards"] = [self._outcome_view(entry, f) for f in outcomes]
            detail["attempts"] = [] if replay is not None else self._attempts(entry)
            detail["replays"] = [self._row(e) for e in (entry.replays or [])[-MAX_GROUP_ROWS:]]
            detail["original"] = (
                self._row(replay.of) if replay is not None and replay.of is not None else None
            )
            return detail

    def _attempts(self, entry: Entry) -> list[dict[str, Any]]:
        """The rows of the other requests with entry's delivery id, in file order: at most
        MAX_GROUP_ROWS, the nearest to it (a sender may reuse one id for ever)."""
        group = self._group(entry.delivery)
        at = _position(group, entry)
        half = MAX_GROUP_ROWS // 2
        near = group[max(at - half, 0) : at + half + 1]
        return [self._row(e) for e in near if e is not entry]

    def _outcome_view(self, entry: Entry, outcome: lf.Forward) -> dict[str, Any]:
        line = entry.memory if entry.memory is not None else None
        if line is None:
            line = self._read_record(outcome.offset, outcome.length)
        return {**outcome.as_dict(), "at": outcome.at, **answer_view(line)}


_UPDATE_KEYS = ("id", "forwards", "forward_state", "replays")


def _position(group: list[Entry], entry: Entry) -> int:
    """Where `entry` is in `group` (in seq order)."""
    return bisect.bisect_left(group, entry.seq, key=_seq)


def _seq(entry: Entry) -> int:
    return entry.seq


def _contains(body: bytes, query: str) -> bool:
    needle = query.lower()
    if needle.encode("utf-8", "surrogatepass") in body.lower():
        return True
    try:
        return needle.casefold() in body.decode("utf-8").casefold()
    except UnicodeDecodeError:
        return False


def _why_no_body(source: Entry | None, record: dict[str, Any] | None) -> str:
    if source is None:
        return "the request this replayed is not in the log"
    if record is None:
        return "the line of this request could not be read back"
    return "the recorded body is neither UTF-8 text nor valid base64"
