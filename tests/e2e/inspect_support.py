"""Helpers for the inspector's e2e tests: a child process whose JSON lines are read as they come
(so a test can wait for the `ready` record, then for an event, without blocking on a pipe),
`apimw events inspect` as a child, the page's token, and the TCP ports a process listens on."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.waiting import wait_for


class Child:
    """A running CLI process; its stdout's JSON lines are gathered by a thread, stderr too."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        self.errors: list[str] = []
        self._readers = [
            threading.Thread(target=self._gather, args=(process.stdout, self.lines), daemon=True),
            threading.Thread(target=self._gather, args=(process.stderr, self.errors), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _gather(stream: Any, into: list[str]) -> None:
        for line in stream:
            into.append(line)

    @property
    def pid(self) -> int:
        return self.process.pid

    def records(self, where: Callable[[dict[str, Any]], bool] = lambda _r: True) -> list[Any]:
        """The JSON lines read so far that `where` accepts."""
        found = []
        for line in list(self.lines):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and where(record):
                found.append(record)
        return found

    def wait_records(self, kind: str, count: int = 1, timeout: float = 20) -> list[Any]:
        """The first `count` records of this kind (NDJSON's "record"), once there are as many."""

        def enough() -> list[Any] | None:
            if self.process.poll() is not None and len(self.records()) == len(self.lines):
                raise AssertionError(f"exited {self.process.returncode}: {''.join(self.errors)}")
            found = self.records(lambda r: r.get("record") == kind)
            return found[:count] if len(found) >= count else None

        return wait_for(enough, timeout, what=f"{count} {kind!r} record(s)")

    def stop(self, sig: signal.Signals = signal.SIGINT) -> tuple[str, str]:
        """Send `sig`, wait for the exit (failing with every thread's stack if it hangs); all
        of stdout and stderr."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGABRT)  # faulthandler prints the stacks
            self.process.wait(timeout=10)
            for reader in self._readers:
                reader.join(5)
            for stream in (self.process.stdout, self.process.stderr):
                if stream is not None:
                    stream.close()
            stacks = "".join(self.errors)[-6000:]
            raise AssertionError(f"did not stop on {sig.name}: {stacks}") from None
        for reader in self._readers:
            reader.join(10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        return "".join(self.lines), "".join(self.errors)


def start_inspect(
    log: Path, *args: str, global_args: tuple[str, ...] = ()
) -> tuple[Child, dict[str, Any]]:
    """`apimw GLOBAL_ARGS events inspect LOG ARGS` with stdout piped; the process and the JSON
    line it printed."""
    process = subprocess.Popen(
        [sys.executable, "-m", "apimw_cli", *global_args, "events", "inspect", str(log), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONFAULTHANDLER": "1"},
    )
    child = Child(process)

    def announced() -> dict[str, Any] | None:
        if process.poll() is not None:
            raise AssertionError(f"exited {process.returncode}: {''.join(child.errors)}")
        found = child.records(lambda r: "url" in r)
        return found[0] if found else None

    return child, wait_for(announced, 20, what="events inspect to print its URL")


def token_of(page: str) -> str:
    """The per-run token the page holds for its actions."""
    match = re.search(r'<meta name="apimw-token" content="([^"]+)"', page)
    assert match, "the page holds no token"
    return match.group(1)


def listening_ports(pid: int) -> set[int]:
    """The TCP ports process `pid` listens on (Linux: its socket inodes in /proc/net/tcp*)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            next(rows)
            for row in rows:
                fields = row.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state == "0A" and inode in inodes:  # 0A: LISTEN
                    ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports
