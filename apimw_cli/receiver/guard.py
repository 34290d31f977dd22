"""Keeps slow and idle connections from starving the receiver's deliveries.

The receiver faces the open internet through the tunnel, and uvicorn alone would hold a
connection forever while it waits for a request's headers: its keep-alive timer is cancelled by
any byte that arrives, and a fresh connection has none. A few hundred such connections use up
the process's file descriptors, and then APIMW's deliveries cannot connect at all. So:

- A connection gets `read_timeout` seconds to send a request's headers, when it opens and again
  after each response; then it is closed (with a 408 if part of a request had arrived). The
  body is bounded by the app (`body.read_body`), once uvicorn has handed it the request.
- Past `connection_cap` connections, a new one evicts the connection that has waited longest
  without a request in progress; a request the app is processing is never cut off. When every
  connection is busy, the new one gets a 503.
"""

from __future__ import annotations

import asyncio
import sys
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

if TYPE_CHECKING:
    from uvicorn.protocols.http.h11_impl import H11Protocol as _Base
else:
    _Base = object  # the mixin goes before uvicorn's protocol class, see `guarded_protocol`

__all__ = [
    "ACCEPT_BATCH",
    "GuardShared",
    "IdleGuard",
    "Pending",
    "connection_cap",
    "guarded_protocol",
    "raise_fd_limit",
    "result_or_pending",
]

T = TypeVar("T")

RESERVE = 128  # descriptors left for all but client connections: listener, logs, forwards
MIN_CAP = 16
# Connections asyncio accepts in one pass of the loop (uvicorn's `backlog`). Each is a
# descriptor before its connection_made can evict another, and the evicted one's descriptor is
# freed three passes later: so some 4 batches must fit in RESERVE. Past the limit, accept fails
# (EMFILE): asyncio logs it and stops accepting for a second, a queue of deliveries behind.
ACCEPT_BATCH = RESERVE // 8
REQUEST_TIMEOUT = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
BUSY = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"


def raise_fd_limit() -> int | None:
    """Raise the soft RLIMIT_NOFILE to the hard one; the soft limit now (None: unlimited, or
    unknown as on Windows). Failures leave the limit as it was."""
    if sys.platform == "win32":
        return None
    import resource

    nofile, unlimited = resource.RLIMIT_NOFILE, resource.RLIM_INFINITY
    try:
        soft, hard = resource.getrlimit(nofile)
    except (ValueError, OSError):
        return None
    # macOS refuses an unlimited soft limit: its OPEN_MAX, 10240, is the most it takes.
    for wanted in (hard, 10240) if hard == unlimited else (hard,):
        if soft == unlimited or (wanted != unlimited and wanted <= soft):
            break
        try:
            resource.setrlimit(nofile, (wanted, hard))
        except (ValueError, OSError):
            continue
        soft = wanted
        break
    return None if soft == unlimited else soft


def connection_cap(max_connections: int, fd_limit: int | None) -> int:
    """At most `max_connections`, and few enough to leave RESERVE descriptors free."""
    if fd_limit is None:
        return max_connections
    return min(max_connections, max(fd_limit - RESERVE, MIN_CAP))


@dataclass
class GuardShared:
    """What a server's connections share."""

    read_timeout: float
    cap: int
    # Connections without a request in progress, the longest waiting first. A connection that
    # has started a request since is dropped from here when met (and put back at its response).
    idle: OrderedDict[IdleGuard, None] = field(default_factory=OrderedDict)


class IdleGuard:
    """The guard's logic, shared by uvicorn's protocols (`_Guard`) and our own
    (fast_protocol.py): a connection subclass says when it is idle (`_is_idle`), calls
    `_admit` when it opens, `_went_idle` when it waits for a request's headers again, and
    `_forget` when it is lost."""

    shared: ClassVar[GuardShared]
    if TYPE_CHECKING:
        loop: asyncio.AbstractEventLoop
        transport: asyncio.Transport
    _timer: asyncio.TimerHandle | None = None
    _idle_since = 0.0
    _partial = False  # bytes of a request arrived since the connection went idle

    def _is_idle(self) -> bool:
        """No request in progress whose headers are in (one waiting for its headers is idle)."""
        raise NotImplementedError

    def _admit(self, connections: int) -> bool:
        """Past the cap, evict the longest-idle connection, or answer 503 and close this one."""
        if connections > self.shared.cap and not self._evict_one():
            self.transport.write(BUSY)
            self.transport.close()
            return False
        return True

    def _mark_idle(self) -> None:
        self._idle_since = now = self.loop.time()
        self._partial = False
        idle = self.shared.idle
        idle[self] = None
        idle.move_to_end(self)
        if self._timer is None:  # else it is due earlier and will wait again (see _expire)
            self._timer = self.loop.call_at(now + self.shared.read_timeout, self._expire)

    def _forget(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.shared.idle.pop(self, None)

    def _expire(self) -> None:
        self._timer = None
        if self.transport.is_closing() or not self._is_idle():
            return  # a request started: the app bounds its body, _went_idle re-arms
        due = self._idle_since + self.shared.read_timeout
        if self.loop.time() < due:  # idle again since the timer was set
            self._timer = self.loop.call_at(due, self._expire)
            return
        self._close(REQUEST_TIMEOUT if self._partial else b"")

    def _evict_one(self) -> bool:
        idle = self.shared.idle
        while idle:
            victim, _ = idle.popitem(last=False)
            if victim._is_idle() and not victim.transport.is_closing():
                victim._close(BUSY if victim._partial else b"")
                return True
        return False

    def _close(self, answer: bytes) -> None:
        self.shared.idle.pop(self, None)
        if answer:
            self.transport.write(answer)
        self.transport.close()


class _Guard(IdleGuard, _Base):
    """The mixin; `guarded_protocol` puts it before uvicorn's H11Protocol or HttpToolsProtocol."""

    # The base protocol's own, set by `guarded_protocol`: called directly, as super() would
    # cost every request a lookup (twice).
    _base_data_received: ClassVar[Callable[[Any, bytes], None]]
    _base_on_response_complete: ClassVar[Callable[[Any], None]]
    _idle_cycle: object = None  # self.cycle when the connection went idle

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self._admit(len(self.connections)):
            self._went_idle()

    def data_received(self, data: bytes) -> None:
        self._partial = True
        self._base_data_received(data)

    def on_response_complete(self) -> None:
        # Before uvicorn's: that may start a pipelined request at once (a new cycle).
        if not self.transport.is_closing():
            self._went_idle()
        self._base_on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._forget()
        super().connection_lost(exc)

    def _went_idle(self) -> None:
        self._idle_cycle = self.cycle
        self._mark_idle()

    def _is_idle(self) -> bool:
        cycle = self.cycle
        # httptools parses a pipelined request while the previous one is answered: then cycle
        # is the next request's, not yet complete.
        return cycle is self._idle_cycle and (cycle is None or cycle.response_complete)


def guarded_protocol(read_timeout: float, cap: int, http: str) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol for `http` ("httptools" or "h11", as `server_stack` picks it)
    with the guard; for `Config(http=...)`.

    Each call makes a class of its own: its connections share one cap and one idle queue.
    """
    base: type[asyncio.Protocol]
    if http == "httptools":
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        base = HttpToolsProtocol
    elif http == "h11":
        from uvicorn.protocols.http.h11_impl import H11Protocol

        base = H11Protocol
    else:
        raise ValueError(f"unknown HTTP implementation {http!r}")
    namespace = {
        "shared": GuardShared(read_timeout, cap),
        "_base_data_received": base.data_received,
        "_base_on_response_complete": base.on_response_complete,
    }
    return type(f"Guarded{base.__name__}", (_Guard, base), namespace)


class Pending(Generic[T]):
    """An awaitable run up to its first suspension; awaiting this runs the rest."""

    def __init__(self, steps: Generator[Any, Any, T], waiting_on: Any) -> None:
        self._steps = steps
        self._waiting_on = waiting_on

    def __await__(self) -> Generator[Any, Any, T]:
        # `yield from steps`, minus its first step, which result_or_pending has taken.
        steps, value = self._steps, self._waiting_on
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                steps.close()
                raise
            except BaseException as exc:  # the task's cancellation (a timeout): pass it on
                try:
                    value = steps.throw(exc)
                except StopIteration as done:
                    return done.value  # type: ignore[no-any-return]
            else:
                try:
                    value = steps.send(sent)
                except StopIteration as done:
                    return done.value  # type: ignore[no-any-return]


def result_or_pending(awaitable: Awaitable[T]) -> T | Pending[T]:
    """The result at once when `awaitable` completes without waiting, else a `Pending` to await.

    Lets the app set a timer only for a body that is still arriving: an `asyncio.timeout`
    around every body read would cost several microseconds per request.
    """
    steps = awaitable.__await__()
    try:
        waiting_on = steps.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    return Pending(steps, waiting_on)
