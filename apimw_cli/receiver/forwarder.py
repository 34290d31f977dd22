"""Forwards received events to the local app(s) given with `--forward-to`.

The raw body bytes go out unchanged with the original headers, minus hop-by-hop ones and
Accept-Encoding (the rule is in relay.py, shared with `events replay`), plus
`X-APIMW-Forwarded-By: apimw-cli/<version>`.

Background forwards (`submit`) go through a queue (backlog.py, which keeps it within a memory
budget): with `concurrency=1` a single consumer keeps receipt order; with N, N consumers forward
at once. `forward_now` is the synchronous path of `--respond passthrough`. Every outcome,
failures included, becomes a `Forwarded` that `report` hands to the recorder and the sink.

http:// targets go through apimw_cli.http1, a lean keep-alive HTTP/1.1 client: the forwarder
shares the receiver's event loop, so each µs a forward costs is a µs less for receiving, and
each await it needs is one more pass of a loop busy with incoming requests (httpx needed ~490 µs
and a dozen passes). https:// targets use httpx, imported only for them.

All methods but `__init__` run on the receiver's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from apimw_cli.http1 import Http1Client, Http1Error, TimedOut
from apimw_cli.protocol import FORWARDED_BY_HEADER
from apimw_cli.receiver.backlog import Backlog, Job, RawHeaders
from apimw_cli.receiver.events import Forwarded, Sink
from apimw_cli.receiver.recorder import Recorder
from apimw_cli.receiver.relay import FORWARDED_BY, forward_headers

if TYPE_CHECKING:  # httpx is imported only for https:// targets
    import httpx

__all__ = ["FORWARDED_BY", "FORWARDED_BY_HEADER", "Forwarder", "forward_headers"]

RESPONSE_BODY_LIMIT = 64 * 1024  # bytes of the app's answer kept for `--verbose`
# The backlog's memory budget: past this many jobs or body bytes in memory, new jobs keep only
# their place in the session log (see backlog.py).
MEMORY_JOBS = 1_000
MEMORY_BYTES = 16 * 1024 * 1024
SHUTDOWN_ERROR = "not forwarded: the receiver shut down"


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
        self._client: _Clients | None = None
        self._backlog: Backlog | None = None  # made by start(), on the loop
        self._workers: _Workers | None = None
        self._closed = False
        # Set (from any thread) when the user gave up waiting: drain reports, does not wait.
        self.abandoned = False
        self.memory_jobs = MEMORY_JOBS if memory_jobs is None else memory_jobs
        self.memory_bytes = MEMORY_BYTES if memory_bytes is None else memory_bytes

    # --- lifecycle ---

    async def start(self) -> None:
        """Create the HTTP client and the consumers on the running loop; idempotent."""
        if self._client is not None or self._closed:
            return
        self._client = _Clients(self.timeout, self.concurrency)
        self._backlog = Backlog(self._recorder, self.memory_jobs, self.memory_bytes)
        self._workers = _Workers(self, self._client, self._backlog)

    @property
    def spilling(self) -> bool:
        """Whether the next job keeps only its place in the log (the queue is past budget)."""
        return self._backlog is not None and self._backlog.spilling

    @property
    def pending(self) -> int:
        """Jobs queued or being forwarded."""
        if self._backlog is None or self._workers is None:
            return 0
        return len(self._backlog) + self._workers.busy

    async def drain(self, timeout: float) -> None:
        """Finish queued and in-flight forwards within `timeout` seconds, then cancel the rest.

        Forwards that never completed are reported as failed with SHUTDOWN_ERROR, so nothing
        disappears silently. Idempotent.
        """
        if self._closed:
            return
        self._closed = True
        backlog = self._backlog
        if backlog is not None and self._workers is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(backlog.join(), 0 if self.abandoned else timeout)
            await self._workers.stop()
            for job in backlog.leftover():
                self._report_shutdown(job.record_id, job.targets)
            backlog.close()
        if self._client is not None:
            await self._client.aclose()

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
            self._report_shutdown(record_id, chosen)
            return
        if self._backlog is None:
            raise RuntimeError("Forwarder.start() was not awaited")
        self._backlog.put(record_id, body, headers, chosen, where)

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
        assert self._client is not None
        wire = forward_headers(headers)
        return await self._client.post(
            record_id, self.targets[0], body, wire, timeout or self.timeout
        )

    def report(self, forwarded: Forwarded) -> None:
        """Record a forward outcome and hand it to the sink."""
        if self._recorder is not None and not self._recorder.closed:
            with contextlib.suppress(OSError):  # a full disk: `events replay --failed` redoes it
                self._recorder.write_forward(forwarded)
        self._sink(forwarded)

    def _report_shutdown(self, record_id: str, targets: tuple[str, ...]) -> None:
        for target in targets:
            self.report(Forwarded(record_id, target, None, 0.0, SHUTDOWN_ERROR))


class _Workers:
    """The `concurrency` tasks that empty the backlog, each forwarding one job at a time."""

    def __init__(self, forwarder: Forwarder, client: _Clients, backlog: Backlog) -> None:
        self._forwarder = forwarder
        self._client = client
        self._backlog = backlog
        self.busy = 0  # jobs being forwarded right now
        self._tasks = [
            asyncio.create_task(self._consume(), name=f"apimw-forward-{i}")
            for i in range(forwarder.concurrency)
        ]

    async def stop(self) -> None:
        """Cancel the tasks (a job in flight is reported as not forwarded) and wait for them."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _consume(self) -> None:
        backlog = self._backlog
        while True:
            job = await backlog.get()
            self.busy += 1
            try:
                await self._forward_job(job)
            except Exception as exc:  # a bug (in a sink, say): say so, keep the queue moving
                asyncio.get_running_loop().call_exception_handler(
                    {"message": f"forwarding {job.record_id} failed", "exception": exc}
                )
            finally:
                self.busy -= 1
                backlog.task_done()

    async def _forward_job(self, job: Job) -> None:
        report = self._forwarder.report
        try:
            job = self._backlog.load(job)
        except (OSError, ValueError) as exc:
            for target in job.targets:
                error = f"not forwarded: could not read it back from the session log: {exc}"
                report(Forwarded(job.record_id, target, None, 0.0, error))
            return
        if len(job.targets) == 1:
            outcomes = [await self._attempt(job, job.targets[0])]
        else:  # targets in parallel; each still sees the events in order
            outcomes = await asyncio.gather(*(self._attempt(job, t) for t in job.targets))
        for outcome in outcomes:
            report(outcome)

    async def _attempt(self, job: Job, target: str) -> Forwarded:
        assert job.body is not None and job.headers is not None
        timeout = self._forwarder.timeout
        try:
            return await self._client.post(job.record_id, target, job.body, job.headers, timeout)
        except asyncio.CancelledError:
            # Cancelled by stop(): report it, then let the cancellation go on.
            self._forwarder.report(Forwarded(job.record_id, target, None, 0.0, SHUTDOWN_ERROR))
            raise


class _Clients:
    """The HTTP clients forwards go through: http1's for http://, httpx's for https://."""

    def __init__(self, timeout: float, concurrency: int) -> None:
        self._timeout = timeout
        # Background consumers plus passthrough's forwards, which come one per open request.
        self._connections = max(10, concurrency)
        self._lean = Http1Client(self._connections, RESPONSE_BODY_LIMIT)
        self._httpx: httpx.AsyncClient | None = None

    async def post(
        self,
        record_id: str,
        target: str,
        body: bytes,
        headers: list[tuple[bytes, bytes]],
        timeout: float,
    ) -> Forwarded:
        """POST one event to one target: the outcome, with up to RESPONSE_BODY_LIMIT of the
        answer. Never raises but CancelledError."""
        started = time.perf_counter()
        if target[:7].lower() != "http://":
            return await _post_httpx(
                self._httpx_client(), record_id, target, body, headers, timeout
            )
        try:
            response = await self._lean.post(target, body, headers, timeout)
        except TimedOut:
            error = f"timed out after {timeout:g}s"
        except Http1Error as exc:  # ConnectFailed's message is already "connection refused", ...
            error = exc.message
        else:
            ms = (time.perf_counter() - started) * 1000
            return Forwarded(record_id, target, response.status, round(ms, 3), None, response.body)
        ms = (time.perf_counter() - started) * 1000
        return Forwarded(record_id, target, None, round(ms, 3), error)

    def _httpx_client(self) -> httpx.AsyncClient:
        if self._httpx is None:
            import httpx  # only for https:// targets (a TLS context, ~80 ms)

            self._httpx = httpx.AsyncClient(
                timeout=httpx.Timeout(self._timeout),
                follow_redirects=False,
                trust_env=False,  # never route events through a proxy from the environment
                limits=httpx.Limits(
                    max_connections=self._connections,
                    max_keepalive_connections=self._connections,
                ),
            )
        return self._httpx

    async def aclose(self) -> None:
        await self._lean.aclose()
        if self._httpx is not None:
            await self._httpx.aclose()


async def _post_httpx(
    client: httpx.AsyncClient,
    record_id: str,
    target: str,
    body: bytes,
    headers: list[tuple[bytes, bytes]],
    timeout: float,
) -> Forwarded:
    """`_Clients.post` for an https:// target (or any URL http1 does not take), via httpx."""
    import httpx  # already imported by _httpx_client

    started = time.perf_counter()
    status: int | None = None
    error: str | None = None
    kept = b""
    try:
        async with asyncio.timeout(timeout):
            request = client.build_request("POST", target, content=body, headers=headers)
            response = await client.send(request, stream=True)
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
