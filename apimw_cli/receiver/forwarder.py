"""Forwards received events to the local app(s) given with `--forward-to`.

The raw body bytes go out unchanged with the original headers, minus hop-by-hop headers and
Host/Content-Length (httpx sets those), plus `X-APIMW-Forwarded-By: apimw-cli/<version>`.

Background forwards (`submit`) go through an asyncio.Queue: with `concurrency=1` a single
consumer keeps receipt order; with N, N consumers forward at once. `forward_now` is the
synchronous path of `--respond passthrough`. Every outcome, failures included, becomes a
`Forwarded` that `report` hands to the recorder and the sink.

All methods but `__init__` run on the receiver's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import BinaryIO

import httpx

from apimw_cli import __version__
from apimw_cli.receiver.events import Forwarded, Sink
from apimw_cli.receiver.recorder import Recorder, parse_line, read_line, record_body, spill_line

__all__ = ["FORWARDED_BY", "FORWARDED_BY_HEADER", "Forwarder", "forward_headers"]

FORWARDED_BY_HEADER = "X-APIMW-Forwarded-By"
FORWARDED_BY = f"apimw-cli/{__version__}"
RESPONSE_BODY_LIMIT = 64 * 1024  # bytes of the app's answer kept for `--verbose`
# A burst faster than the app queues up; past this many jobs or body bytes in memory, new jobs
# keep only their place in the session log (~200 bytes each) and are read back in turn.
MEMORY_JOBS = 1_000
MEMORY_BYTES = 16 * 1024 * 1024
SHUTDOWN_ERROR = "not forwarded: the receiver shut down"

RawHeaders = Sequence[tuple[bytes, bytes]]

# RFC 9110 7.6.1 hop-by-hop headers, plus what httpx must compute itself.
_DROPPED = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
        b"host",
        b"content-length",
        b"expect",
        FORWARDED_BY_HEADER.lower().encode(),
    }
)
_FORWARDED_BY = (FORWARDED_BY_HEADER.encode(), FORWARDED_BY.encode())


def forward_headers(raw: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The headers to send to the app: the received ones minus hop-by-hop, plus ours."""
    headers = list(raw)
    dropped = set(_DROPPED)
    for name, value in headers:
        if name.lower() == b"connection":  # headers it names are hop-by-hop too
            dropped.update(t.strip().lower() for t in value.split(b",") if t.strip())
    kept = [(name, value) for name, value in headers if name.lower() not in dropped]
    kept.append(_FORWARDED_BY)
    return kept


@dataclass(frozen=True, slots=True)
class _Job:
    """One event to forward: its body and headers in memory, or where to read them back."""

    record_id: str
    body: bytes | None  # None: spilled, read back from `where`
    headers: list[tuple[bytes, bytes]] | None
    targets: tuple[str, ...]
    where: tuple[int, int] | None = None  # (offset, length) of its line in the log or spill


class _Spill:
    """Where spilled jobs are read back from: the session log, which already holds every
    event; or, with --no-record, a private temporary file of the same line format."""

    def __init__(self, recorder: Recorder | None) -> None:
        self._recorder = recorder
        self._file: BinaryIO | None = None  # the temporary file, once needed

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

    def load(self, job: _Job) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        """The body and forward headers of a spilled job; OSError/ValueError if unreadable."""
        assert job.where is not None
        offset, length = job.where
        if self._recorder is not None:
            record = read_line(self._recorder.path, offset, length)
        else:
            assert self._file is not None
            record = parse_line(os.pread(self._file.fileno(), length, offset))
        if record is None or record.get("id") != job.record_id:
            raise ValueError("its line in the session log is gone or changed")
        headers = record.get("headers")
        if not isinstance(headers, dict):
            raise ValueError("its recorded headers are unreadable")
        raw = [(str(k).encode("latin-1"), str(v).encode("latin-1")) for k, v in headers.items()]
        return record_body(record), forward_headers(raw)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class Forwarder:
    """Forwards bodies to `targets`; see the module docstring."""

    def __init__(
        self,
        targets: Sequence[str],
        timeout: float,
        concurrency: int,
        sink: Sink,
        recorder: Recorder | None,
        *,
        memory_jobs: int | None = None,
        memory_bytes: int | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.targets = tuple(targets)
        self.timeout = timeout
        self.concurrency = concurrency
        self._sink = sink
        self._recorder = recorder
        self._client: httpx.AsyncClient | None = None
        self._queue: asyncio.Queue[_Job] | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._busy = 0  # jobs being forwarded right now
        self._closed = False
        self._spill = _Spill(recorder)
        self._memory = 0  # body bytes of the queued jobs held in memory
        self._in_memory = 0  # queued jobs held in memory
        # Set (from any thread) when the user gave up waiting: drain reports, does not wait.
        self.abandoned = False
        self.memory_jobs = MEMORY_JOBS if memory_jobs is None else memory_jobs
        self.memory_bytes = MEMORY_BYTES if memory_bytes is None else memory_bytes

    # --- lifecycle ---

    async def start(self) -> None:
        """Create the HTTP client and the consumers on the running loop; idempotent."""
        if self._client is not None or self._closed:
            return
        connections = max(10, self.concurrency * max(1, len(self.targets)))
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(self.timeout),
            follow_redirects=False,
            trust_env=False,  # never route events through a proxy from the environment
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        )
        self._queue = asyncio.Queue()
        self._workers = [
            asyncio.create_task(self._consume(), name=f"apimw-forward-{i}")
            for i in range(self.concurrency)
        ]

    @property
    def spilling(self) -> bool:
        """Whether the next job keeps only its place in the log (the queue is past budget)."""
        return self._in_memory >= self.memory_jobs or self._memory >= self.memory_bytes

    @property
    def pending(self) -> int:
        """Jobs queued or being forwarded."""
        if self._queue is None:
            return 0
        return self._queue.qsize() + self._busy

    async def drain(self, timeout: float) -> None:
        """Finish queued and in-flight forwards within `timeout` seconds, then cancel the rest.

        Forwards that never completed are reported as failed with SHUTDOWN_ERROR, so nothing
        disappears silently. Idempotent.
        """
        if self._closed:
            return
        self._closed = True
        queue = self._queue
        if queue is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(queue.join(), 0 if self.abandoned else timeout)
            for worker in self._workers:
                worker.cancel()
            await asyncio.gather(*self._workers, return_exceptions=True)
            self._workers = []
            while not queue.empty():
                job = queue.get_nowait()
                for target in job.targets:
                    self.report(Forwarded(job.record_id, target, None, 0.0, SHUTDOWN_ERROR))
        if self._client is not None:
            await self._client.aclose()
        self._spill.close()

    # --- forwarding ---

    def submit(
        self,
        record_id: str,
        body: bytes,
        headers: RawHeaders,
        targets: Sequence[str] | None = None,
        where: tuple[int, int] | None = None,
    ) -> None:
        """Queue a background forward of `body` to `targets` (default: all). Never blocks.

        `where` is the place of the event's line in the session log (`Recorder.write_request`
        with `locate`): past the memory budget (`spilling`) the job keeps only that.
        """
        chosen = self.targets if targets is None else tuple(targets)
        if not chosen:
            return
        if self._closed:
            for target in chosen:
                self.report(Forwarded(record_id, target, None, 0.0, SHUTDOWN_ERROR))
            return
        if self._queue is None:
            raise RuntimeError("Forwarder.start() was not awaited")
        if self.spilling:
            if where is None and self._spill.needs_copy:
                try:
                    where = self._spill.keep(record_id, body, headers)
                except OSError:
                    where = None  # no room on disk either: keep it in memory after all
            if where is not None:
                self._queue.put_nowait(_Job(record_id, None, None, chosen, where))
                return
        self._in_memory += 1
        self._memory += len(body)
        self._queue.put_nowait(_Job(record_id, body, forward_headers(headers), chosen))

    async def forward_now(
        self, record_id: str, body: bytes, headers: RawHeaders, timeout: float | None = None
    ) -> Forwarded:
        """Forward to the first target and return the outcome (for passthrough).

        Unlike background forwards this does not report: the caller records the request first
        and then calls `report`, so the log keeps a request line before its forward lines.
        """
        if not self.targets:
            raise ValueError("no forward target")
        if self._client is None:
            await self.start()
        return await self._send(
            record_id, self.targets[0], body, forward_headers(headers), timeout or self.timeout
        )

    def report(self, forwarded: Forwarded) -> None:
        """Record a forward outcome and hand it to the sink."""
        if self._recorder is not None and not self._recorder.closed:
            with contextlib.suppress(OSError):  # a full disk: `events replay --failed` redoes it
                self._recorder.write_forward(forwarded)
        self._sink(forwarded)

    async def _consume(self) -> None:
        assert self._queue is not None
        while True:
            job = await self._queue.get()
            self._busy += 1
            if job.body is not None:
                self._in_memory -= 1
                self._memory -= len(job.body)
            try:
                await self._forward_job(job)
            except Exception as exc:  # a bug (in a sink, say): say so, keep the queue moving
                asyncio.get_running_loop().call_exception_handler(
                    {"message": f"forwarding {job.record_id} failed", "exception": exc}
                )
            finally:
                self._busy -= 1
                self._queue.task_done()

    async def _forward_job(self, job: _Job) -> None:
        if job.body is None:
            try:
                body, headers = self._spill.load(job)
            except (OSError, ValueError) as exc:
                for target in job.targets:
                    error = f"not forwarded: could not read it back from the session log: {exc}"
                    self.report(Forwarded(job.record_id, target, None, 0.0, error))
                return
            job = _Job(job.record_id, body, headers, job.targets)
        if len(job.targets) == 1:
            outcomes = [await self._attempt(job, job.targets[0])]
        else:  # targets in parallel; each still sees the events in order
            outcomes = await asyncio.gather(*(self._attempt(job, t) for t in job.targets))
        for outcome in outcomes:
            self.report(outcome)

    async def _attempt(self, job: _Job, target: str) -> Forwarded:
        try:
            assert job.body is not None and job.headers is not None
            return await self._send(job.record_id, target, job.body, job.headers, self.timeout)
        except asyncio.CancelledError:
            # Cancelled by drain(): report it, then let the cancellation go on.
            self.report(Forwarded(job.record_id, target, None, 0.0, SHUTDOWN_ERROR))
            raise

    async def _send(
        self,
        record_id: str,
        target: str,
        body: bytes,
        headers: list[tuple[bytes, bytes]],
        timeout: float,
    ) -> Forwarded:
        assert self._client is not None
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        kept = b""
        try:
            async with asyncio.timeout(timeout):
                request = self._client.build_request("POST", target, content=body, headers=headers)
                response = await self._client.send(request, stream=True)
                try:
                    status = response.status_code
                    parts: list[bytes] = []
                    size = 0
                    async for chunk in response.aiter_bytes():
                        if size < RESPONSE_BODY_LIMIT:
                            parts.append(chunk[: RESPONSE_BODY_LIMIT - size])
                        size += len(chunk)
                    kept = b"".join(parts)
                finally:
                    await response.aclose()
        except (TimeoutError, httpx.TimeoutException):
            status, error = None, f"timed out after {timeout:g}s"
        except httpx.ConnectError as exc:
            status, error = None, _connect_error(exc)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            status, error = None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        ms = (time.perf_counter() - started) * 1000
        return Forwarded(record_id, target, status, round(ms, 3), error, kept)


def _connect_error(exc: httpx.ConnectError) -> str:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        cause = cause.__cause__ or cause.__context__
    text = str(exc)
    if "refused" in text.lower() or "errno 111" in text.lower():
        return "connection refused"
    return f"connection failed: {text}" if text else "connection failed"
