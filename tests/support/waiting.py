"""Polling: the one way a test waits for something another thread or process does."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    predicate: Callable[[], T | None],
    timeout: float = 5.0,
    what: str | Callable[[], str] = "condition",
    *,
    interval: float = 0.01,
) -> T:
    """Poll `predicate` until it returns something truthy and return that; fail at the deadline.

    The timeout is a bound for a broken run, not a speed claim: a passing run returns as soon
    as the condition holds. `what` names the condition in the failure (a function: what it
    says at the deadline, e.g. how many arrived).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            said = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout} s waiting for: {said}")
        time.sleep(interval)


def wait_for_file(
    path: Path,
    proc: subprocess.Popen[str] | subprocess.Popen[bytes] | None = None,
    timeout: float = 20.0,
    what: str = "the ready file",
) -> str:
    """The stripped text of `path` once it has some; fail early if `proc` exits meanwhile."""

    def written() -> str | None:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"exited ({proc.returncode}) before {what}: {proc.communicate()}")
        text = path.read_text().strip() if path.exists() else ""
        return text or None

    return wait_for(written, timeout, what, interval=0.02)
