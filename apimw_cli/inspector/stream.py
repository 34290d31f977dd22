"""`GET /api/stream`: new rows and forward outcomes, pushed to the page as server-sent events.

The index is read only while a page is connected (no page, no cost to the receiver), at most
every TICK seconds, and a stream writes only when something changed:

    event: rows        data: {"rows": [...newest first, at most ROWS_PER_EVENT], "skipped": n,
                              "behind": bytes of the log not read yet (a flood: see REFRESH_BUDGET)}
    event: forwards    data: {"updates": [{"id": ..., "forwards": [...]}, ...]}  (batches)
    : keep-alive       a comment every HEARTBEAT seconds of silence (proxies, dead peers)
    event: reload      the page is from an earlier run of the inspector (its cursor is past
                       this one's): it must load again (new token, new rows)

Each event carries `id: <seq>.<forward cursor>`, so a browser that reconnects on its own
(EventSource does) resumes where it was through `Last-Event-ID`. A page that has just loaded the
list starts the stream at `?after=<seq>&forwards=<cursor>` (the `cursor` of /api/events).
A stream ends when the page leaves or when the server stops (`Streams.close`), never later.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.types import Receive, Scope, Send

from apimw_cli.inspector.threads import SerialThread

if TYPE_CHECKING:
    from apimw_cli.inspector.logindex import LogIndex

__all__ = ["REFRESH_BUDGET", "Streams", "forward_cursor", "parse_cursor"]

TICK = 0.25  # seconds between looks at the index: about 4 a second at most
# Seconds between looks while the log grows faster than a message holds (rows are skipped): a
# flood. The page then shows the newest rows once a second, and the receiver keeps the time
# (each look reads the log for up to REFRESH_BUDGET and builds ROWS_PER_EVENT rows). Once the
# log stops growing, looks are TICK apart again and read it faster (QUIET_BUDGET): catching up.
FLOOD_TICK = 1.0
HEARTBEAT = 15.0
ROWS_PER_EVENT = 100
UPDATES_PER_EVENT = 200
MAX_UPDATES_PER_TICK = 2000  # past that the page is told to reload instead
MAX_STREAMS = 16
REFRESH_EVERY = TICK * 0.8  # several streams share one refresh per tick
# Seconds a refresh may read the log for: under a flood the index (and the page) falls behind
# and catches up later rather than take more than ~2% of a core from the receiver.
REFRESH_BUDGET = 0.004

Cursor = tuple[int, int]  # (last row seq sent, forward-updates cursor)
Dumps = Callable[[Any], bytes]


def forward_cursor(index: LogIndex) -> int:
    """The index's forward-updates cursor as of now."""
    return index.forward_cursor()


def parse_cursor(text: str | None) -> Cursor | None:
    """`<seq>.<forwards>` (an event id) as a cursor, None when it is not one."""
    if not text or len(text) > 40:
        return None
    seq, dot, forwards = text.partition(".")
    if not dot or not seq.isdigit() or not forwards.isdigit():
        return None
    return int(seq), int(forwards)


class Streams:
    """The open streams, one feed of changes for all of them, and their stop."""

    def __init__(self, index: LogIndex, worker: SerialThread, dumps: Dumps) -> None:
        self.index = index
        self.worker = worker
        self.dumps = dumps
        self.open = 0
        self._last_refresh = 0.0
        self._wakes: set[asyncio.Event] = set()
        self.closing = False

    def close(self) -> None:
        """End every stream now (on the server's loop: the server is stopping)."""
        self.closing = True
        for wake in self._wakes:
            wake.set()

    # -- on the index's thread -------------------------------------------------------------

    def _refreshed(self) -> None:
        now = time.monotonic()
        if now - self._last_refresh >= REFRESH_EVERY:
            self._last_refresh = now
            self.index.refresh(REFRESH_BUDGET)

    def _start(self, cursor: Cursor | None) -> tuple[Cursor, bool]:
        """Where a new stream starts: its cursor, else now (the newest row, all forwards); and
        whether the page is from another run (its cursor is past anything here: the inspector
        restarted on the same port), which must reload."""
        self._refreshed()
        newest = self.index.rows(limit=1)
        now = (int(newest[0]["seq"]) if newest else 0, forward_cursor(self.index))
        if cursor is None:
            return now, False
        if cursor[0] > now[0] or cursor[1] > now[1]:
            return now, True
        return cursor, False

    def _changes(
        self, cursor: Cursor
    ) -> tuple[Cursor, list[dict[str, Any]], int, list[dict[str, Any]], int]:
        self._refreshed()
        seq, forwards = cursor
        rows, skipped = self.index.latest(seq, ROWS_PER_EVENT)
        if rows:
            seq = max(int(row["seq"]) for row in rows)
        updates, forwards = self.index.forward_updates(forwards)
        dropped = max(0, len(updates) - MAX_UPDATES_PER_TICK)
        return (seq, forwards), rows, skipped, updates[dropped:], dropped

    # -- on the loop -----------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.closing or self.open >= MAX_STREAMS:
            await _plain(send, 503, b"too many inspector streams open (or stopping)\n")
            return
        self.open += 1
        wake = asyncio.Event()
        self._wakes.add(wake)
        watcher = asyncio.create_task(_until_gone(receive, wake))
        try:
            await self._serve(scope, send, wake)
        except OSError:  # the page went away mid-write
            pass
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            self._wakes.discard(wake)
            self.open -= 1

    async def _serve(self, scope: Scope, send: Send, wake: asyncio.Event) -> None:
        given = _given_cursor(scope)
        cursor, stale = await self.worker.call(functools.partial(self._start, given))
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream; charset=utf-8"),
                    (b"x-accel-buffering", b"no"),
                ],
            }
        )
        await _chunk(send, f"retry: 2000\nid: {cursor[0]}.{cursor[1]}\n\n".encode("ascii"))
        if stale:
            await _chunk(send, _event("reload", f"{cursor[0]}.{cursor[1]}", b"{}"))
        quiet_since = time.monotonic()
        tick = TICK
        while not wake.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(tick):
                    await wake.wait()
            if wake.is_set():
                break
            changes = await self.worker.call(functools.partial(self._changes, cursor))
            cursor, rows, skipped, updates, dropped = changes
            tick = FLOOD_TICK if skipped and self.index.growing else TICK
            data = self._events(cursor, rows, skipped, updates, dropped)
            if data:
                await _chunk(send, data)
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= HEARTBEAT:
                await _chunk(send, b": keep-alive\n\n")
                quiet_since = time.monotonic()
        if not self._gone(wake):
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    def _gone(self, wake: asyncio.Event) -> bool:
        return wake.is_set() and not self.closing

    def _events(
        self,
        cursor: Cursor,
        rows: list[dict[str, Any]],
        skipped: int,
        updates: list[dict[str, Any]],
        dropped: int,
    ) -> bytes:
        """The SSE text for one tick's changes (b"" when nothing changed)."""
        event_id = f"{cursor[0]}.{cursor[1]}"
        parts: list[bytes] = []
        if rows or skipped:
            behind = self.index.behind  # bytes of the log not read yet: the page says so
            data = {"rows": rows, "skipped": skipped, "behind": behind}
            parts.append(_event("rows", event_id, self.dumps(data)))
        for start in range(0, len(updates), UPDATES_PER_EVENT):
            batch = {"updates": updates[start : start + UPDATES_PER_EVENT]}
            if dropped and start == 0:
                batch["skipped"] = dropped  # type: ignore[assignment]
            parts.append(_event("forwards", event_id, self.dumps(batch)))
        return b"".join(parts)


def _event(name: str, event_id: str, data: bytes) -> bytes:
    # JSON from our dumps is one line (no raw newline can be in it): one data field.
    return b"event: %s\nid: %s\ndata: %s\n\n" % (
        name.encode("ascii"),
        event_id.encode("ascii"),
        data,
    )


def _given_cursor(scope: Scope) -> Cursor | None:
    """The page's Last-Event-ID (a reconnect), else its ?after=&forwards= (a fresh start)."""
    for name, value in scope["headers"]:
        if name == b"last-event-id":
            return parse_cursor(value.decode("latin-1"))
    from urllib.parse import parse_qs

    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    after, forwards = query.get("after", [""])[0], query.get("forwards", [""])[0]
    return parse_cursor(f"{after}.{forwards}")


async def _until_gone(receive: Receive, wake: asyncio.Event) -> None:
    """Waits for the page to leave (http.disconnect), then wakes its stream."""
    while (await receive())["type"] != "http.disconnect":
        pass
    wake.set()


async def _chunk(send: Send, data: bytes) -> None:
    await send({"type": "http.response.body", "body": data, "more_body": True})


async def _plain(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain; charset=utf-8")],
        }
    )
    await send({"type": "http.response.body", "body": body})
