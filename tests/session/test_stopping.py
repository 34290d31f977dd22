"""SIGTERM and a held Ctrl-C set listen's stop event from a signal handler, which Python runs
in the main thread between two bytecodes: possibly while that thread holds the event's own
lock, inside `wait()`. That must not hang (a listen that ignored SIGTERM, once, in CI)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import pytest

from apimw_cli.session.stopping import StopEvent

# The handler runs while this thread holds the event's lock, as inside stop.wait(); each case
# prints "stopped" once the event is set. With threading.Event's lock the process hangs.
CASES = {
    "sigterm": """
        with stopping.stop_on_sigterm(stop):
            with stop._cond:
                signal.raise_signal(signal.SIGTERM)
    """,
    "held ctrl-c": """
        held = stopping.HeldCtrlC(stop)
        held.hold()
        with stop._cond:
            signal.raise_signal(signal.SIGINT)
        assert held.release()
    """,
}


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM is not a signal Python can catch")
@pytest.mark.parametrize("case", CASES)
def test_a_signal_sets_the_stop_event_while_its_own_thread_holds_the_lock(case: str) -> None:
    script = "import signal\nfrom apimw_cli.session import stopping\nstop = stopping.StopEvent()\n"
    script += textwrap.dedent(CASES[case]) + "assert stop.wait(1)\nprint('stopped')\n"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=20, check=False
    )
    assert done.returncode == 0 and done.stdout == "stopped\n", done.stderr


def test_it_is_still_an_event_for_the_other_threads() -> None:
    stop = StopEvent()
    woken: list[bool] = []
    waiter = threading.Thread(target=lambda: woken.append(stop.wait(10)))
    waiter.start()
    assert not stop.wait(0.05)
    stop.set()
    waiter.join(5)
    assert woken == [True] and stop.is_set()
    stop.clear()
    assert not stop.is_set()
