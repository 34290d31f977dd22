"""The forwarder's queue of background forwards, kept within a memory budget.

A burst faster than the app queues up. Past `memory_jobs` jobs or `memory_bytes` body bytes in
memory, a new job keeps only its place in the session log (~200 bytes) and is read back in
turn; with --no-record a private temporary file of the same line format stands in for the log.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from apimw_cli.receiver.recorder import Recorder, parse_line, record_body, spill_line
from apimw_cli.receiver.relay import forward_headers

__all__ = ["Backlog", "Job", "RawHeaders"]

RawHeaders = Sequence[tuple[bytes, bytes]]


@dataclass(frozen=True, slots=True)
class Job:
    """One event to forward: its body and headers in memory, or where to read them back."""

    record_id: str
    body: bytes | None  # None: spilled, read back from `where`
    headers: list[tuple[bytes, bytes]] | None  # as forwarded (`forward_headers`)
    targets: tuple[str, ...]
    where: tuple[int, int] | None = None  # (offset, length) of its line in the log or spill


class _Spill:
    """Where spilled jobs are read back from: the session log, which already holds every
    event; or, with --no-record, a private temporary file of the same line format."""

    def __init__(self, recorder: Recorder | None) -> None:
        self._recorder = recorder
        self._file: BinaryIO | None = None  # the temporary file, once needed
        self._log: int | None = None  # the session log, opened for reading once needed

    @property
    def needs_copy(self) -> bool:
        return self._recorder is None

    def keep(self, record_id: str, body: bytes, headers: RawHeaders) -> tuple[int, int]:
        """With no session log: append the event to the temporary file, return its place."""
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="apimw-forward-")  # noqa: SIM115
        line = spill_line(record_id, body, headers)
        offset = self._file.seek(0, os.SEEK_END)
        self._file.write(line)
        self._file.flush()
        return offset, len(line)

    def load(self, job: Job) -> Job:
        """The job with its body and forward headers; OSError/ValueError if unreadable."""
        assert job.where is not None
        offset, length = job.where
        if self._recorder is not None:
            if self._log is None:  # one descriptor for the whole backlog, not one a job
                self._log = os.open(self._recorder.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            record = parse_line(os.pread(self._log, length, offset))
        else:
            assert self._file is not None
            record = parse_line(os.pread(self._file.fileno(), length, offset))
        if record is None or record.get("id") != job.record_id:
            raise ValueError("its line in the session log is gone or changed")
        headers = record.get("headers")
        if not isinstance(headers, dict):
            raise ValueError("its recorded headers are unreadable")
        try:
            raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        except AttributeError:  # an edited log: a value that is not text
            raw = [(str(k).encode("latin-1"), str(v).encode("latin-1")) for k, v in headers.items()]
        return Job(job.record_id, record_body(record), forward_headers(raw), job.targets)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._log is not None:
            os.close(self._log)
            self._log = None


class Backlog:
    """A FIFO of `Job`s within the memory budget; create it on the loop that uses it."""

    def __init__(self, recorder: Recorder | None, memory_jobs: int, memory_bytes: int) -> None:
        self.memory_jobs = memory_jobs
        self.memory_bytes = memory_bytes
        # A deque and a count, not an asyncio.Queue: the consumers are callbacks (lanes.py)
        # and nothing awaits a job, so the Queue's waiter bookkeeping is cost without use.
        self._queue: deque[Job] = deque()
        self._unfinished = 0  # jobs queued or taken and not yet marked done
        self._all_done = asyncio.Event()
        self._all_done.set()
        self._spill = _Spill(recorder)
        self._memory = 0  # body bytes of the queued jobs held in memory
        self._in_memory = 0  # queued jobs held in memory
        self.on_put: Callable[[], None] | None = None  # told of each new job (the consumers)

    @property
    def spilling(self) -> bool:
        """Whether the next job keeps only its place in the log (the queue is past budget)."""
        return self._in_memory >= self.memory_jobs or self._memory >= self.memory_bytes

    def __len__(self) -> int:
        return len(self._queue)

    def put(
        self,
        record_id: str,
        body: bytes,
        headers: RawHeaders,
        targets: tuple[str, ...],
        where: tuple[int, int] | None,
    ) -> None:
        """Queue a job; past the budget keep only `where` (its line in the session log), or
        with no log its line in the spill file. Never blocks."""
        if self.spilling:
            if where is None and self._spill.needs_copy:
                try:
                    where = self._spill.keep(record_id, body, headers)
                except OSError:
                    where = None  # no room on disk either: keep it in memory after all
            if where is not None:
                self._append(Job(record_id, None, None, targets, where))
                if self.on_put is not None:
                    self.on_put()
                return
        self._in_memory += 1
        self._memory += len(body)
        self._append(Job(record_id, body, forward_headers(headers), targets))
        if self.on_put is not None:
            self.on_put()

    def take(self) -> Job | None:
        """The next job, as queued (a spilled one still to `load`), or None if there is none;
        call `task_done` after."""
        if not self._queue:
            return None
        job = self._queue.popleft()
        if job.body is not None:
            self._in_memory -= 1
            self._memory -= len(job.body)
        return job

    def load(self, job: Job) -> Job:
        """A spilled job read back with its body and headers; OSError/ValueError if it cannot be."""
        return job if job.body is not None else self._spill.load(job)

    def task_done(self) -> None:
        self._unfinished -= 1
        if self._unfinished == 0:
            self._all_done.set()

    async def join(self) -> None:
        """Until every job got has been marked done."""
        await self._all_done.wait()

    def leftover(self) -> Iterator[Job]:
        """Empty the queue, job by job (at shutdown: to report what was not forwarded)."""
        while self._queue:
            self._unfinished -= 1
            yield self._queue.popleft()
        if self._unfinished == 0:
            self._all_done.set()

    def close(self) -> None:
        self._spill.close()

    def _append(self, job: Job) -> None:
        self._queue.append(job)
        self._unfinished += 1
        self._all_done.clear()
