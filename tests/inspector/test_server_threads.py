"""threads.py: the index's thread runs calls in order, hands back results and exceptions,
starts with the first call, ends when idle or closed (an inspector nobody looks at keeps no
thread), and a long call on a thread of its own never holds the loop."""

from __future__ import annotations

import asyncio
import functools
import threading

import pytest

from apimw_cli.inspector.threads import SerialThread, in_daemon_thread
from tests.support.waiting import wait_for


def named(name: str) -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == name]


def test_calls_run_in_order_on_one_thread_with_their_results_and_errors() -> None:
    worker = SerialThread("test-serial-order")
    seen: list[tuple[int, str]] = []

    def note(n: int) -> int:
        seen.append((n, threading.current_thread().name))
        return n * 10

    def fail() -> None:
        raise ValueError("from the thread")

    async def main() -> list[int]:
        results = await asyncio.gather(
            *(worker.call(functools.partial(note, n)) for n in range(20))
        )
        with pytest.raises(ValueError, match="from the thread"):
            await worker.call(fail)
        return list(results)

    try:
        assert asyncio.run(main()) == [n * 10 for n in range(20)]
    finally:
        worker.close()
    assert [n for n, _ in seen] == list(range(20))
    assert {name for _, name in seen} == {"test-serial-order"}


def test_the_thread_ends_when_idle_and_comes_back_for_the_next_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(SerialThread, "IDLE", 0.05)
    worker = SerialThread("test-serial-idle")
    assert not named("test-serial-idle")  # nothing until the first call
    assert asyncio.run(worker.call(lambda: 1)) == 1
    wait_for(lambda: not named("test-serial-idle"), 10, "the idle thread to end")
    assert not worker.running
    assert asyncio.run(worker.call(lambda: 2)) == 2
    worker.close()
    wait_for(lambda: not named("test-serial-idle"), 10, "the closed thread to end")


def test_a_closed_thread_takes_no_more_calls() -> None:
    worker = SerialThread("test-serial-closed")
    assert asyncio.run(worker.call(lambda: "first")) == "first"
    worker.close()
    wait_for(lambda: not named("test-serial-closed"), 10, "the closed thread to end")
    with pytest.raises(RuntimeError, match="closed"):
        asyncio.run(worker.call(lambda: "late"))


def test_a_call_whose_caller_left_is_dropped_not_run() -> None:
    worker = SerialThread("test-serial-cancel")
    gate = threading.Event()
    ran: list[str] = []

    async def main() -> None:
        first = asyncio.ensure_future(worker.call(lambda: gate.wait(10)))
        second = asyncio.ensure_future(worker.call(lambda: ran.append("second")))
        await asyncio.sleep(0)
        second.cancel()
        gate.set()
        assert await first is True
        with pytest.raises(asyncio.CancelledError):
            await second

    try:
        asyncio.run(main())
    finally:
        worker.close()
    wait_for(lambda: not named("test-serial-cancel"), 10, "the thread to end")
    assert ran == []


def test_a_long_call_on_its_own_thread_leaves_the_loop_free() -> None:
    release = threading.Event()

    async def main() -> str:
        slow = asyncio.ensure_future(in_daemon_thread(lambda: release.wait(10), "test-long"))
        ticks = 0
        while ticks < 5:  # the loop goes on while the call waits
            await asyncio.sleep(0.01)
            ticks += 1
        assert not slow.done()
        release.set()
        return "done" if await slow else "timed out"

    assert asyncio.run(main()) == "done"
