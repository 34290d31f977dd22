"""The session's pacing of the terminal: what the feed holds is shown in batches by the main
thread, a forwarding backlog is reported every few seconds, and a closed stdout is silenced."""

from __future__ import annotations

import collections
import contextlib
import os
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from apimw_cli.models import Forwarded, Received
from apimw_cli.receiver.feed import Feed, Skipped

if TYPE_CHECKING:
    from apimw_cli.output.live import LiveView

__all__ = ["BacklogReport", "Screen", "silence_stdout"]


class Screen:
    """Shows what the feed holds, a batch at a time: every record gets its line, and the lines
    of a batch go out in one write (`LiveView.batch`).

    Items taken but not yet shown stay here, so a Ctrl-C in the middle of a batch loses none
    of it: the lines made before it are written as the batch ends, the rest is shown while
    stopping."""

    BATCH = 512  # records a batch takes at most: bounds the time to the first line of it
    TICK = 0.02  # seconds between batches while the feed holds less than one: 50 writes/s

    def __init__(self, view: LiveView, feed: Feed) -> None:
        self.view = view
        self.feed = feed
        self._taken: collections.deque[Received | Forwarded | Skipped] = collections.deque()

    def catch_up(self) -> bool:
        """Show what is waiting (one batch); False when there was nothing."""
        taken = self._taken
        if not taken:
            taken.extend(self.feed.take(self.BATCH))
            if not taken:
                self.view.flush()  # what an interrupted write left
                return False
        with self.view.batch():
            while taken:
                item = taken[0]
                if isinstance(item, Skipped):
                    self.view.skipped(item.events, item.forwards)
                else:
                    self.view.show(item)
                taken.popleft()  # only once shown
        return True

    def pause(self) -> float:
        """How long to wait before the next batch: none while a whole batch is waiting (the
        view is behind), else a tick, so lines come a few dozen times a second, in batches,
        and a record waits at most a tick (and its batch) before it is shown."""
        return 0.0 if len(self.feed) >= self.BATCH else self.TICK


class BacklogReport:
    """Says when forwarding falls behind (how far, every few seconds) and when it caught up."""

    EVERY = 5.0
    THRESHOLD = 100  # events waiting before it is worth a line

    def __init__(self, view: LiveView, pending: Callable[[], int]) -> None:
        self.view = view
        self.pending = pending
        self.reported = False
        self._next = time.monotonic() + 1.0

    def check(self) -> None:
        now = time.monotonic()
        if now < self._next:
            return
        waiting = self.pending()
        if waiting >= self.THRESHOLD:
            self.view.backlog(waiting)
            self.reported = True
            self._next = now + self.EVERY
            return
        if self.reported and waiting == 0:
            self.view.backlog(0)
            self.reported = False
        self._next = now + 1.0


def silence_stdout() -> None:
    """Point stdout at /dev/null, so that writes still queued (and the flush at exit) do not
    fail again on the closed pipe."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
