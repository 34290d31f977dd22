"""The sink between the receiver (its own thread) and whoever shows the records (listen's).

Counting and deciding happen here, on the receiver's thread, for every record: the tally and
`--expect`'s verdict never depend on the terminal keeping up. Showing is what may fall
behind: the records wait in a buffer bounded in count and bytes, and when a stalled terminal
or pipe lets it fill up, further records are counted as skipped instead of held (a `Skipped`
marker in their place), so memory stays bounded and nothing that was accepted is lost: the
session log has every request.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from apimw_cli.models import Forwarded, Received, Tally

__all__ = ["Feed", "Skipped"]

Record = Received | Forwarded
Decide = Callable[[Record, Tally], object | None]  # the outcome's type is the caller's

_OVERHEAD = 512  # bytes a record costs besides its body: the object, its headers, the strings


@dataclass(slots=True)
class Skipped:
    """Records that were not kept for showing because the reader fell behind."""

    events: int = 0
    forwards: int = 0


def _size(record: Record) -> int:
    if isinstance(record, Received):
        return len(record.body) + _OVERHEAD
    return len(record.response_body) + _OVERHEAD


class Feed:
    """Call it with each record (thread-safe, never blocks); `take()` what is there to show.

    `decide(record, tally)` runs after each record is counted and may return an outcome (any
    object but None): the first one is kept in `decided` and `settled` is set.
    """

    def __init__(
        self,
        *,
        decide: Decide | None = None,
        max_records: int = 5_000,
        max_bytes: int = 16 * 1024 * 1024,
    ) -> None:
        self.tally = Tally()
        self.decided: object | None = None
        self.settled = threading.Event()
        self.max_records = max_records
        self.max_bytes = max_bytes
        self._decide = decide
        self._lock = threading.Lock()
        self._items: deque[Record | Skipped] = deque()
        self._bytes = 0
        self.skipped_total = 0

    def __call__(self, record: Record) -> None:
        # Called for every request on the receiver's thread: kept to one lock and few lookups.
        if isinstance(record, Received):
            event, filtered, size = True, record.filtered, len(record.body) + _OVERHEAD
        else:
            event, filtered, size = False, False, len(record.response_body) + _OVERHEAD
        with self._lock:
            self.tally.add(record)
            if self._decide is not None and self.decided is None:
                outcome = self._decide(record, self.tally)
                if outcome is not None:
                    self.decided = outcome
                    self.settled.set()
            if filtered:
                return  # acknowledged and counted, never shown
            items = self._items
            if len(items) < self.max_records and self._bytes + size <= self.max_bytes:
                items.append(record)
                self._bytes += size
                return
            last = items[-1] if items else None
            if not isinstance(last, Skipped):
                last = Skipped()
                items.append(last)
            if event:
                last.events += 1
            else:
                last.forwards += 1
            self.skipped_total += 1

    def take(self, limit: int = 256) -> list[Record | Skipped]:
        """Up to `limit` records (and skip markers) in the order they came, oldest first."""
        with self._lock:
            items = self._items
            if len(items) <= limit:  # all of it, the usual case: nothing left to count
                taken = list(items)
                items.clear()
                self._bytes = 0
                return taken
            taken = [items.popleft() for _ in range(limit)]
            for item in taken:
                if not isinstance(item, Skipped):
                    self._bytes -= _size(item)
        return taken

    def __len__(self) -> int:
        return len(self._items)
