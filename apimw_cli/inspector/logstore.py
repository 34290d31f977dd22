"""Reading a session log for the inspector's index (logindex.py): the file tailed line by line
into entries (a request's place in the file and its delivery id, a forward's outcome, a
replay), and the entries' lines read back (a request's facts, summary, record). LogIndex builds
rows and details on this; see its docstring."""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apimw_cli.inspector import logfacts as lf

__all__ = ["Entry", "LogStore", "Replay"]

CHUNK = 1024 * 1024  # bytes read at once
MAX_LINE = 64 * 1024 * 1024  # a longer line is skipped, not read
MAX_ID = 128  # a request id longer than this is read the slow way
SUMMARIES = 4096  # rows whose display fields are cached
RECORDS = 8  # parsed request lines cached (headers, bodies: for details, replay, curl)
MAX_ORPHANS = 10_000  # forward lines kept for requests not seen (yet)
MAX_UPDATES = 100_000  # forward updates kept for the stream's cursors
QUIET_BUDGET = 0.1  # seconds a budgeted refresh may take when the log stopped growing
BUDGET_LINES = 64  # lines read between looks at the clock, with a budget
BUDGET_CHUNK = 256 * 1024  # bytes read at once with a budget (a flood leaves much unread)
TAIL_WINDOW = 4096  # bytes at a request line's end read for its facts (the rest if not there)

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_clock = time.perf_counter  # a refresh's budget is counted on it (tests replace it)


class Entry:
    """One row: a request line (facts) or a replay (replay)."""

    __slots__ = (
        "delivery",
        "facts",
        "forwards",
        "id",
        "length",
        "memory",
        "offset",
        "replay",
        "replays",
        "seq",
    )

    def __init__(
        self, seq: int, row_id: str, offset: int, length: int, delivery: str | None = None
    ) -> None:
        self.seq = seq
        self.id = row_id
        self.offset = offset  # -1: not in the file (a replay kept in memory)
        self.length = length
        self.delivery = delivery  # read with the line: requests are grouped by it
        self.facts: lf.Facts | None = None  # read when first needed (LogStore._facts)
        self.forwards: list[lf.Forward] | None = None
        self.replays: list[Entry] | None = None
        self.replay: Replay | None = None
        self.memory: dict[str, Any] | None = None  # a replay kept in memory: its record


@dataclass(frozen=True, slots=True)
class Replay:
    of: Entry | None
    of_id: str | None
    mode: str | None
    outcome: lf.Forward
    note: str | None


class LogStore:
    """The entries of one session log, read incrementally; safe from several threads."""

    def __init__(self, path: Path, *, live: bool = False, forwarding: bool = False) -> None:
        self.path = Path(path)
        self.live = live  # events without an outcome yet are "pending" (when forwarding)
        self.forwarding = forwarding  # also set by the first forward line seen
        self.generation = 0  # +1 each time the file is found truncated or replaced
        self.skipped = 0  # lines that are not records
        self.behind = 0  # bytes of the log a budgeted refresh left for later
        self.growing = False  # the log grew between the last two refreshes (events arriving)
        self._size = -1  # the log's size at the last refresh
        self._lock = threading.RLock()
        self._ident: tuple[int, int] | None = None
        self._head = b""
        self._seq_base = 0  # seq numbers go on across a start over: cursors stay valid
        self._entries: list[Entry] = []
        self._updates_base = 0
        self._updates: list[Entry] = []  # rows whose forwards or replays changed, in order
        self._start_over()

    def _start_over(self) -> None:
        if self._ident is not None:
            self.generation += 1
        self._seq_base += len(self._entries)
        self._updates_base += len(self._updates)
        self._pos = 0
        self._entries = []
        self._updates = []
        self._ids: dict[str, Entry] = {}  # row id -> row
        # record id -> its last request, when that is not the row of the same id (seen again)
        self._latest: dict[str, Entry] = {}
        # delivery id -> its request, or its requests in file order when there are several
        self._deliveries: dict[str, Entry | list[Entry]] = {}
        self._orphans: dict[str, list[lf.Forward]] = {}
        self._summaries: OrderedDict[int, lf.Summary] = OrderedDict()
        self._records: OrderedDict[int, dict[str, Any] | None] = OrderedDict()

    def refresh(self, budget: float | None = None) -> int:
        """Read the complete lines appended since the last call; how many rows they added.

        With `budget` (seconds), stop reading once about that much time went by: the rest is
        read by later calls (`behind` says how much is left). Under a flood of events, the page
        then lags behind the log instead of taking the receiver's CPU (the GIL is shared); once
        the log stops growing, a call may take QUIET_BUDGET to catch up. Only for a `live` log:
        a past one is read whole.
        """
        with self._lock:
            before = len(self._entries) + self._seq_base
            try:
                fd = os.open(self.path, os.O_RDONLY | _O_CLOEXEC)
            except OSError:
                return 0
            try:
                self._check_same_file(fd)
                size = os.fstat(fd).st_size
                if not self.live:
                    budget = None  # a past session: no receiver to leave the time to
                elif budget is not None and size == self._size:
                    # Nothing arrived since the last look: the receiver has the time to spare.
                    budget = max(budget, QUIET_BUDGET)
                self.growing = size != self._size
                self._size = size
                deadline = None if budget is None else _clock() + budget
                self._read(fd, size, deadline)
                self.behind = max(0, size - self._pos)
            except OSError:
                pass  # read what could be read; the next refresh tries again
            finally:
                os.close(fd)
            return len(self._entries) + self._seq_base - before

    def _check_same_file(self, fd: int) -> None:
        info = os.fstat(fd)
        ident = (info.st_dev, info.st_ino)
        head = os.pread(fd, 64, 0)
        replaced = self._ident is not None and ident != self._ident
        shrunk = info.st_size < self._pos or head[: len(self._head)] != self._head
        if not replaced and not shrunk and self._pos:
            shrunk = os.pread(fd, 1, self._pos - 1) != b"\n"
        if replaced or shrunk:
            self._start_over()
        self._ident, self._head = ident, head

    def _read(self, fd: int, size: int, deadline: float | None = None) -> None:
        """Take the complete lines from self._pos to `size` (or until `deadline`, checked every
        BUDGET_LINES lines); self._pos ends after the last one taken (also when a read fails:
        those lines are not taken twice)."""
        self._pos = pos = self._pos
        while pos < size:
            chunk = CHUNK if deadline is None else BUDGET_CHUNK
            buf = os.pread(fd, min(chunk, size - pos), pos)
            if not buf:
                break
            start = 0
            taken = 0
            while (end := buf.find(b"\n", start)) >= 0:
                if end > start:
                    self._take(buf, start, end, pos + start)
                start = end + 1
                taken += 1
                if deadline is not None and not taken % BUDGET_LINES and _clock() > deadline:
                    self._pos = pos + start
                    return
            if start == 0:  # a line longer than the chunk: find its end, then read it whole
                end_at = self._line_end(fd, pos + len(buf), size)
                if end_at is None:
                    break  # torn: wait for its newline
                if end_at - pos <= MAX_LINE:
                    line = os.pread(fd, end_at - pos, pos)
                    self._take(line, 0, len(line), pos)
                else:
                    self.skipped += 1
                self._pos = pos = end_at + 1
                continue
            read_to = pos + len(buf)
            self._pos = pos = pos + start
            if pos < read_to and read_to >= size:
                break  # what is left is a torn last line: wait for its newline
            if deadline is not None and _clock() > deadline:
                return

    def _line_end(self, fd: int, pos: int, size: int) -> int | None:
        while pos < size:
            buf = os.pread(fd, min(CHUNK, size - pos), pos)
            if not buf:
                return None
            found = buf.find(b"\n")
            if found >= 0:
                return pos + found
            pos += len(buf)
        return None

    def _take(self, buf: bytes, start: int, end: int, offset: int) -> None:
        """One complete line, buf[start:end], at `offset` of the file."""
        if buf.startswith(lf.REQUEST_PREFIXES, start):
            id_start = start + len(lf.REQUEST_PREFIXES[0])
            id_end = buf.find(b'"', id_start, min(end, id_start + MAX_ID))
            found, delivery = lf.delivery_at(buf, id_end, end) if id_end > 0 else (False, None)
            if found:
                raw_id = buf[id_start:id_end]
                if raw_id.isascii() and b"\\" not in raw_id:
                    self._add_located(raw_id.decode("ascii"), offset, end - start, delivery)
                    return
        record = lf.parse_line(buf[start:end])
        if record is None:
            if buf[start:end].strip():
                self.skipped += 1
            return
        kind = record.get("record")
        if kind == "request":
            entry = self._add_request(record.get("id"), offset, end - start, None, record)
            self._remember(self._records, entry.seq, record, RECORDS)
        elif kind == "forward":
            self._add_forward(record, offset, end - start)
        elif kind == "replay":
            self._add_replay(record, offset, end - start, None)

    def _add_located(self, record_id: str, offset: int, length: int, delivery: str | None) -> None:
        """`_add_request` for the usual line, the quick way (this runs for every request line
        read: a function call or a dict lookup less is ~5% of the cost)."""
        ids = self._ids
        if record_id in ids or self._orphans or not record_id:
            self._add_request(record_id, offset, length, delivery)
            return
        entries = self._entries
        entry = Entry(self._seq_base + len(entries) + 1, record_id, offset, length, delivery)
        entries.append(entry)
        ids[record_id] = entry
        if delivery is not None:
            group = self._deliveries.get(delivery)
            if group is None:
                self._deliveries[delivery] = entry
            elif type(group) is list:
                group.append(entry)
            else:
                self._deliveries[delivery] = [group, entry]  # type: ignore[list-item]

    def _group(self, delivery: str | None) -> list[Entry]:
        """The requests with this delivery id, in file order."""
        group = self._deliveries.get(delivery) if delivery is not None else None
        if group is None:
            return []
        return group if type(group) is list else [group]  # type: ignore[list-item]

    def _new_entry(self, record_id: object, offset: int, length: int) -> Entry:
        seq = self._seq_base + len(self._entries) + 1
        if isinstance(record_id, str) and 0 < len(record_id) <= MAX_ID:
            row_id = record_id if record_id not in self._ids else f"{record_id}~{seq}"
            if not row_id.isascii():
                row_id = lf.clean_text(row_id)
        else:
            row_id = f"line-{seq}"
        entry = Entry(seq, row_id, offset, length)
        self._entries.append(entry)
        self._ids[entry.id] = entry
        return entry

    def _add_request(
        self,
        record_id: object,
        offset: int,
        length: int,
        delivery: str | None,
        record: dict[str, Any] | None = None,
    ) -> Entry:
        """A request row; with `record` (a line read the slow way) its facts at once."""
        entry = self._new_entry(record_id, offset, length)
        if record is not None:
            entry.facts = lf.facts_from_record(record)
            delivery = entry.facts.delivery_id
            self._remember(self._summaries, entry.seq, lf.summary_from_record(record), SUMMARIES)
        entry.delivery = delivery
        if delivery is not None:
            group = self._group(delivery)
            self._deliveries[delivery] = [*group, entry] if group else entry
        if isinstance(record_id, str):
            if entry.id != record_id:
                self._latest[record_id] = entry
            orphans = self._orphans.pop(record_id, None)
            if orphans:
                entry.forwards = orphans
                self._updates.append(entry)
        return entry

    def _add_forward(self, record: dict[str, Any], offset: int, length: int) -> None:
        self.forwarding = True
        outcome = lf.forward_from_record(record, offset, length)
        record_id = record.get("id")
        if not isinstance(record_id, str):
            return
        entry = self._request(record_id)
        if entry is None:
            if record_id in self._orphans or len(self._orphans) < MAX_ORPHANS:
                self._orphans.setdefault(record_id, []).append(outcome)
            return
        if entry.forwards is None:
            entry.forwards = []
        entry.forwards.append(outcome)
        self._note_update(entry)

    def _add_replay(
        self, record: dict[str, Any], offset: int, length: int, note: str | None
    ) -> Entry:
        of_id = record.get("of")
        original = self._request(of_id) if isinstance(of_id, str) else None
        mode = record.get("mode")
        entry = self._new_entry(record.get("id"), offset, length)
        entry.replay = Replay(
            of=original,
            of_id=original.id if original is not None else lf.text_or_none(of_id),
            mode=mode if mode in ("verbatim", "resigned") else None,
            outcome=lf.forward_from_record(record, offset, length),
            note=note,
        )
        if original is not None:
            if original.replays is None:
                original.replays = []
            original.replays.append(entry)
            self._note_update(original)
        return entry

    def _request(self, record_id: str) -> Entry | None:
        """The last request line with this record id."""
        entry = self._latest.get(record_id) or self._ids.get(record_id)
        return entry if entry is not None and entry.replay is None else None

    def _note_update(self, entry: Entry) -> None:
        self._updates.append(entry)
        if len(self._updates) > MAX_UPDATES:
            dropped = len(self._updates) // 2
            del self._updates[:dropped]
            self._updates_base += dropped

    @staticmethod
    def _remember(cache: OrderedDict[int, Any], key: int, value: Any, bound: int) -> None:
        cache[key] = value
        cache.move_to_end(key)
        while len(cache) > bound:
            cache.popitem(last=False)

    def _line(self, entry: Entry) -> dict[str, Any] | None:
        """The parsed line of a request entry (cached, bounded), None when unreadable."""
        if entry.seq in self._records:
            self._records.move_to_end(entry.seq)
            return self._records[entry.seq]
        record = self._read_record(entry.offset, entry.length)
        self._remember(self._records, entry.seq, record, RECORDS)
        return record

    def _read_record(self, offset: int, length: int) -> dict[str, Any] | None:
        data = self._read_bytes(offset, length)
        return None if data is None else lf.parse_line(data)

    def _read_bytes(self, offset: int, length: int) -> bytes | None:
        """`length` bytes of the file at `offset`, None when they cannot all be read."""
        if offset < 0:
            return None
        try:
            fd = os.open(self.path, os.O_RDONLY | _O_CLOEXEC)
            try:
                data = os.pread(fd, length, offset)
            finally:
                os.close(fd)
        except OSError:
            return None
        return data if len(data) == length else None

    def _facts(self, entry: Entry) -> lf.Facts:
        """A request's facts, read from its line's tail the first time they are needed (kept:
        they are small)."""
        facts = entry.facts
        if facts is None:
            facts = entry.facts = self._read_facts(entry)
        return facts

    def _read_facts(self, entry: Entry) -> lf.Facts:
        window = min(entry.length, TAIL_WINDOW)
        start = entry.offset + entry.length - window
        tail = self._read_bytes(start, window)
        at = -1 if tail is None else tail.rfind(lf.TAIL_KEY)
        if tail is not None and at >= 0:
            facts = lf.facts_at(tail, at, len(tail))
            if facts is not None:
                return facts
        record = self._line(entry)
        return lf.UNREADABLE if record is None else lf.facts_from_record(record)

    def _summary(self, entry: Entry) -> lf.Summary:
        summary = self._summaries.get(entry.seq)
        if summary is None:
            record = self._line(entry)
            summary = lf.NO_SUMMARY if record is None else lf.summary_from_record(record)
            self._remember(self._summaries, entry.seq, summary, SUMMARIES)
        return summary
