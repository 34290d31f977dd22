"""`apimw listen` as a child process, for the e2e tests: start it, wait until it is ready,
stop it with a signal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.support.waiting import wait_for_file


def start_listen(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    """Start `apimw listen --port 0 ARGS`; returns the process and its receive URL once ready."""
    ready = tmp_path / "listen.ready"
    proc = subprocess.Popen(
        [sys.executable, "-m", "apimw_cli", "listen", "--port", "0", "--ready-file", str(ready),
         *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A listen that does not stop dumps every thread's stack on SIGABRT (see stop()).
        env={**os.environ, "PYTHONFAULTHANDLER": "1"},
    )  # fmt: skip
    return proc, wait_for_file(ready, proc, 30, "listen to be ready")


def stop(proc: subprocess.Popen[str], sig: signal.Signals = signal.SIGINT) -> tuple[str, str]:
    """Send `sig` and wait for listen to exit; when it hangs, fail with its threads' stacks."""
    proc.send_signal(sig)
    try:
        return proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)  # faulthandler prints every thread's traceback
        out, err = proc.communicate(timeout=10)
        tail = f"stdout: ...{out[-1500:]}\nstderr: ...{err[-6000:]}"
        raise AssertionError(f"listen did not stop on {sig.name}:\n{tail}") from None
