"""Blocking work off the inspector's event loop, on daemon threads.

The index reads the session log (a search over a big log takes a while) and a replay waits for
the app's answer: neither may stall the loop that serves the page and its streams. anyio's
worker threads would do, but they are not daemon threads: a replay still waiting for a slow app
would hold the process open after `apimw listen` has stopped. Here nothing does: a call whose
caller has gone (the server stopped) just finishes on its own and its result is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_Job = tuple[Callable[[], Any], asyncio.AbstractEventLoop, "asyncio.Future[Any]"]


def _settle(future: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    """Hand a thread's outcome to its future (on the loop's thread), unless the caller left."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)


def _run_job(job: _Job) -> None:
    work, loop, future = job
    value: Any = None
    error: BaseException | None = None
    try:
        value = work()
    except Exception as exc:  # handed to the awaiting coroutine, which decides
        error = exc
    with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is waiting
        loop.call_soon_threadsafe(_settle, future, value, error)


class SerialThread:
    """One daemon thread that runs the calls it is given one at a time, in order.

    Every call on the log index goes through one of these: a stream's refresh never
    interleaves with a page's search. The thread starts with the first call and ends after
    IDLE seconds without one (or at `close`): an inspector nobody looks at keeps no thread.
    """

    IDLE = 10.0

    def __init__(self, name: str) -> None:
        self._name = name
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

    async def call(self, work: Callable[[], T]) -> T:
        """`work()` on the thread; its result or its exception."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._lock:  # the thread cannot decide it is idle between the put and the check
            if self._closed:
                raise RuntimeError(f"{self._name} is closed")
            self._queue.put((work, loop, future))
            if self._thread is None:
                self._thread = threading.Thread(target=self._main, name=self._name, daemon=True)
                self._thread.start()
        return await future

    def _main(self) -> None:
        while True:
            try:
                job = self._queue.get(timeout=self.IDLE)
            except queue.Empty:
                job = None
            if job is None:
                with self._lock:
                    if self._closed or self._queue.empty():
                        self._thread = None
                        return
                continue
            if not job[2].done():  # a caller that has gone (cancelled) needs no answer
                _run_job(job)

    @property
    def running(self) -> bool:
        return self._thread is not None

    def close(self) -> None:
        """Let the thread end once the calls already queued are done (it never blocks)."""
        with self._lock:
            self._closed = True
        self._queue.put(None)


async def in_daemon_thread(work: Callable[[], T], name: str) -> T:
    """`work()` on a daemon thread of its own (for a call that may wait long: a replay)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    thread = threading.Thread(target=_run_job, args=((work, loop, future),), name=name, daemon=True)
    thread.start()
    return await future
