"""A thread with an asyncio loop of its own, which other threads can wake and stop.

The delivery worker runs in one, so hundreds of attempts in flight never lengthen the turns of
the API's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any

logger = logging.getLogger(__name__)


class LoopThread:
    """Subclasses write `_run` (loop until `_stopping`, waiting on `_wake`), and may set up and
    tear down loop-bound resources in `_open` and `_close`."""

    thread_name = "apimw-sandbox-loop"

    def __init__(self, *, loop: str = "asyncio") -> None:
        self.loop_name = loop  # "uvloop" or "asyncio", as server_stack.detect() chose
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        """Start the thread; returns once its loop runs."""
        started = threading.Event()
        self._thread = threading.Thread(
            target=self._thread_main, args=(started,), name=self.thread_name, daemon=True
        )
        self._thread.start()
        started.wait()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loop and wait for the thread; tasks under way are cancelled."""
        # The flag as well as the cancel: on Python 3.11, asyncio.wait_for can swallow a
        # cancellation that lands as its wait ends, and the loop would run on (past join's
        # timeout, into whatever the caller closes next).
        self._stopping = True
        self.wake()
        if self._loop is not None and self._task is not None:
            # The flag may have ended the loop already: then its loop is closed, nothing to do.
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._task.cancel)
        if self._thread is not None:
            self._thread.join(timeout)

    def wake(self) -> None:
        """Make `_run` look for work now (from any thread)."""
        if self._loop is None or self._wake is None:
            return
        if threading.current_thread() is self._thread:
            self._wake.set()
        else:
            with contextlib.suppress(RuntimeError):  # the loop has just closed
                self._loop.call_soon_threadsafe(self._wake.set)

    def call_soon(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` in the thread's loop (from any thread); dropped before `start`."""
        if self._loop is None:
            work.close()
            return
        try:
            self._loop.call_soon_threadsafe(self._track, work)
        except RuntimeError:  # the loop has just closed: the work is dropped, as before start
            work.close()

    def _track(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` as a task that a stop cancels and waits for (in the loop's thread)."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._observe)

    def _observe(self, task: asyncio.Task[None]) -> None:
        """A finished task: forgotten, and its exception, if any, reported (asyncio would only
        say "Task exception was never retrieved", late or never)."""
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self._task_failed(exc)

    def _task_failed(self, exc: BaseException) -> None:
        """A task ended with an exception; subclasses log it their way."""
        logger.error("%s: a task failed: %r", self.thread_name, exc, exc_info=exc)

    def _thread_main(self, started: threading.Event) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._wake = asyncio.Event()
            self._open()
            self._task = asyncio.current_task()
            started.set()
            try:
                await self._run()
            finally:
                for task in list(self._tasks):
                    task.cancel()
                await asyncio.gather(*self._tasks, return_exceptions=True)
                await self._close()

        runner = asyncio.Runner(loop_factory=_loop_factory(self.loop_name))
        with contextlib.suppress(asyncio.CancelledError), runner:
            runner.run(main())
        started.set()  # in case the loop failed before it was ready

    def _open(self) -> None:
        """Make what must be made inside the loop."""

    async def _close(self) -> None:
        """Release what `_open` made."""

    async def _run(self) -> None:
        raise NotImplementedError


def _loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop when asked for and it imports (server_stack.detect() checked it already);
    None: asyncio's own."""
    if name != "uvloop":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop
