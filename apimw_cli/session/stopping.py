"""How a long-running command (listen, events inspect) is told to stop: SIGTERM sets an event
instead of killing the process, and between listen's banner and its loop a Ctrl-C is held
rather than raised, so both end in the same clean stop. The event is a `StopEvent`, which a
signal handler may set."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["HeldCtrlC", "StopEvent", "stop_on_sigterm"]


class StopEvent(threading.Event):
    """A `threading.Event` that a signal handler may set.

    Python runs a handler in the main thread between two bytecodes, which may be inside that
    thread's own `wait()` on this event, with the event's lock held. `threading.Event`'s lock
    is not re-entrant, so the handler's `set()` then waited for its own thread forever: a
    listen that ignored SIGTERM (seen once in CI). This one's lock is re-entrant. A wait in
    the main thread that the handler interrupts before it began to sleep may then sleep out
    its timeout before it sees the flag: wait with a timeout there, as the loops do."""

    def __init__(self) -> None:
        super().__init__()
        self._cond = threading.Condition(threading.RLock())


@contextlib.contextmanager
def stop_on_sigterm(stop: StopEvent) -> Iterator[None]:
    """SIGTERM sets `stop`, as a Ctrl-C stops the command, without the KeyboardInterrupt (main
    thread only: Python delivers signals there)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class HeldCtrlC:
    """Between the banner and the loop, Ctrl-C is remembered rather than raised, so a user (or
    a script) that stops listen as soon as it is ready gets the clean stop the loop gives
    (clean-up, summary, exit 0), never an interrupted set-up. Main thread only, as signals."""

    def __init__(self, stop: StopEvent) -> None:
        self.stop = stop
        self.pressed = False
        self.previous: Any = None  # what signal.getsignal gave
        self.holding = False

    def hold(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        self.previous = signal.getsignal(signal.SIGINT)
        signal.signal(signal.SIGINT, self._remember)
        self.holding = True

    def _remember(self, *_: object) -> None:
        self.pressed = True
        self.stop.set()  # the demo traffic stops too

    def release(self) -> bool:
        """Ctrl-C raises again; True when it was pressed while held."""
        if self.holding:
            previous = self.previous
            if previous is None:  # not set from Python: Python's own
                previous = signal.default_int_handler
            signal.signal(signal.SIGINT, previous)
            self.holding = False
        return self.pressed

    def __enter__(self) -> HeldCtrlC:
        return self

    def __exit__(self, *_: object) -> None:
        self.release()  # set-up failed after the banner: Ctrl-C is Ctrl-C again
