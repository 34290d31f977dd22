"""The live view keeps up by batching: every record gets its line, a batch of lines goes out in
one write, the loop comes back every tick while records are waiting (and at once while a whole
batch is), messages on stderr stay in order with the lines around them, and a Ctrl-C in the
middle of a batch loses nothing."""

from __future__ import annotations

import io
import json
from types import SimpleNamespace
from typing import Any, cast

import pytest

from apimw_cli.models import Forwarded, Received
from apimw_cli.output.live import LiveView
from apimw_cli.output.printer import Printer
from apimw_cli.receiver.feed import Feed
from apimw_cli.session.outcome import Outcome
from apimw_cli.session.run import ListenSession
from apimw_cli.session.screen import Screen
from apimw_cli.session.stopping import HeldCtrlC, StopEvent
from tests.receiver.support import received


class Log:
    """stdout and stderr writing into one list, in the order the writes happened, as on one
    terminal; each write is one entry."""

    def __init__(self) -> None:
        self.writes: list[tuple[str, str]] = []
        self.flushes = 0

    def stream(self, name: str) -> io.StringIO:
        log = self

        class Stream(io.StringIO):
            def write(self, text: str) -> int:
                if text:  # rich writes "" now and then
                    log.writes.append((name, text))
                return len(text)

            def flush(self) -> None:
                log.flushes += 1

        return Stream()

    def text(self, name: str | None = None) -> str:
        return "".join(text for stream, text in self.writes if name in (None, stream))


def view_on(log: Log, *, ndjson: bool = False) -> LiveView:
    printer = Printer(stdout=log.stream("out"), stderr=log.stream("err"))
    return LiveView(printer, ndjson=ndjson)


def filled(count: int, *, start: int = 0) -> Feed:
    feed = Feed()
    for n in range(start, start + count):
        feed(received(n))
    return feed


@pytest.mark.parametrize("ndjson", [False, True])
def test_a_batch_of_records_is_one_write(ndjson: bool) -> None:
    log = Log()
    feed = filled(Screen.BATCH + 100)
    screen = Screen(view_on(log, ndjson=ndjson), feed)
    assert screen.catch_up() and screen.catch_up()
    assert not screen.catch_up()
    assert [len(text.splitlines()) for _, text in log.writes] == [Screen.BATCH, 100]
    shown = log.text().splitlines()
    if ndjson:
        assert [json.loads(line)["id"] for line in shown] == [
            f"rec_{n:012x}" for n in range(Screen.BATCH + 100)
        ]
    else:
        assert all(f"[rec_{n:08x}]" in line for n, line in enumerate(shown))


def test_messages_on_stderr_stay_between_the_lines_they_came_between() -> None:
    """An unrecorded event's warning (stderr) comes after the lines shown before it and
    before those after it, though the lines are gathered and written per batch."""
    log = Log()
    feed = filled(3)
    refused = received(3)
    refused.record_error = "No space left on device"
    feed(refused)
    feed(received(4))  # recording resumed: a second warning
    feed(Forwarded(received(0).record_id, "http://app/hook", 200, 2.0))
    Screen(view_on(log), feed).catch_up()
    streams = [(stream, text.count("\n")) for stream, text in log.writes]
    assert streams == [("out", 3), ("err", 1), ("out", 1), ("err", 1), ("out", 2)]
    assert "not recorded" in log.writes[1][1] and "recording resumed" in log.writes[3][1]


def test_a_ctrl_c_in_the_middle_of_a_batch_loses_nothing_and_repeats_nothing() -> None:
    log = Log()
    feed = filled(10)

    class Interrupted(LiveView):
        at = 4

        def show(self, record: Received | Forwarded) -> None:
            if record.record_id == f"rec_{self.at:012x}":
                self.at = -1
                raise KeyboardInterrupt
            super().show(record)

    printer = Printer(stdout=log.stream("out"), stderr=log.stream("err"))
    screen = Screen(Interrupted(printer, ndjson=True), feed)
    with pytest.raises(KeyboardInterrupt):
        screen.catch_up()
    # The lines made before the Ctrl-C were written as the batch ended.
    assert len(log.text().splitlines()) == 4
    while screen.catch_up():
        pass
    ids = [json.loads(line)["id"] for line in log.text().splitlines()]
    assert ids == [f"rec_{n:012x}" for n in range(10)]


def test_the_pause_is_a_tick_unless_a_whole_batch_waits() -> None:
    assert 0 < Screen.TICK <= 0.05  # lines at least 20 times a second: lag well under 100 ms
    screen = Screen(view_on(Log()), filled(Screen.BATCH * 2 + 1))
    assert screen.pause() == 0.0  # behind: no waiting
    screen.catch_up()
    assert screen.pause() == 0.0
    screen.catch_up()
    assert screen.pause() == Screen.TICK  # one record left: it goes with the next tick
    screen.catch_up()
    assert screen.pause() == Screen.TICK


class Clock(StopEvent):
    """The loop's stop event: each wait is a tick in which records may arrive."""

    def __init__(self, feed: Feed, arrivals: list[list[int]]) -> None:
        super().__init__()
        self.feed = feed
        self.arrivals = arrivals
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(cast(float, timeout))
        if not self.arrivals:
            self.set()
            return True
        for n in self.arrivals.pop(0):
            self.feed(received(n))
        return False


def test_the_loop_shows_what_arrived_at_the_next_tick() -> None:
    """Records that arrive during a tick are shown when it ends, in one write; the loop never
    waits longer than a tick, and does not wait at all while a whole batch is waiting."""
    log = Log()
    feed = Feed()
    burst = 2 * Screen.BATCH + 10
    arrivals = [[0, 1, 2], [], [3], list(range(4, 4 + burst)), [9999]]
    clock = Clock(feed, arrivals)
    session = cast(Any, ListenSession.__new__(ListenSession))
    session.options = SimpleNamespace(deadline_s=None, ndjson=True)
    session.feed, session.stop = feed, clock
    session.ctrl_c = HeldCtrlC(clock)  # never held here: the loop starts as after a quiet set-up
    checks = SimpleNamespace(check=lambda: None)
    screen = Screen(view_on(log, ndjson=True), feed)
    writes_after_tick: list[int] = []

    original_wait = clock.wait

    def wait(timeout: float | None = None) -> bool:
        writes_after_tick.append(len(log.writes))
        return original_wait(timeout)

    clock.wait = wait  # type: ignore[method-assign]
    outcome = session._loop(screen, checks, checks)
    assert isinstance(outcome, Outcome)
    assert all(0 < w <= Screen.TICK for w in clock.waits)
    ids = [json.loads(line)["id"] for line in log.text().splitlines()]
    assert ids == [f"rec_{n:012x}" for n in [*range(4 + burst), 9999]]
    # Each tick's arrivals were written before the next wait: none waited a second tick.
    # (The burst took two batches back to back, without a wait between them.)
    assert writes_after_tick == [0, 1, 1, 2, 4, 5]
