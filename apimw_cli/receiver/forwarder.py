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
import functools
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from apimw_cli.http1 import Http1Client, Http1Error, Http1Response, TimedOut, sends_to
from apimw_cli.protocol import FORWARDED_BY_HEADER
from apimw_cli.receiver.backlog import Backlog, RawHeaders
from apimw_cli.receiver.events import Forwarded, Sink
from apimw_cli.receiver.lanes import Lanes
from apimw_cli.receiver.recorder import Recorder
from apimw_cli.receiver.relay import ANSWER_LIMIT, FORWARDED_BY, answer_headers, forward_headers

if TYPE_CHECKING:  # httpx is imported only for https:// targets
    import httpx

__all__ = ["FORWARDED_BY", "FORWARDED_BY_HEADER", "Forwarder", "forward_headers"]

RESPONSE_BODY_LIMIT = ANSWER_LIMIT  # bytes of the app's answer kept (--verbose, the log)
# The backlog's memory budget: past this many jobs or body bytes in memory, new jobs keep only
# their place in the session log (see backlog.py). ~2 KB a 1 KB event in memory: 5,000 cost
# ~10 MB, and a job read back from the log costs more CPU than its forward (~45 µs to ~25).
MEMORY_JOBS = 5_000
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
        self._lean: Http1Client | None = None  # the client `poll` lets answers in from
        self._backlog: Backlog | None = None  # made by start(), on the loop
        self._workers: Lanes | None = None
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
        self._lean = self._client.lean
        self._backlog = Backlog(self._recorder, self.memory_jobs, self.memory_bytes)
        self._workers = Lanes(
            self._backlog,
            self.concurrency,
            self._client.start,
            self.report,
            self.timeout,
            SHUTDOWN_ERROR,
        )

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
            self._workers.stop()
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

    def poll(self) -> None:
        """Let an answer the app already sent in now (and so the lane write its next request),
        without waiting for the loop's next pass. The receiver calls it for each request it
        handles; an attribute check when no forward awaits its answer, else one recv.

        Why: the receiver and the lanes share one loop. During a burst each pass of the loop
        serves every connection that became readable (4-16 requests), while an ordered lane,
        one request in flight, could advance only once a pass: 0.1-0.4x the receive rate. Polled
        between requests, it advances as fast as the app answers. (The alternatives keep order
        and never make APIMW's deliveries wait for the app: pipelining breaks apps that handle
        requests concurrently; yielding the receiver to the lane costs each delivery a pass.)"""
        lean = self._lean
        if lean is not None and lean.outstanding:
            try:
                lean.poll()
            except Exception as exc:  # a bug in forwarding must not fail the delivery at hand
                asyncio.get_running_loop().call_exception_handler(
                    {"message": "polling the forward lanes failed", "exception": exc}
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


class _Clients:
    """The HTTP clients forwards go through: http1's for http://, httpx's for https://."""

    def __init__(self, timeout: float, concurrency: int) -> None:
        self._timeout = timeout
        # A connection per lane, plus room for passthrough's forwards (one per request waiting
        # for the app's answer; beyond that they wait for a connection, within their timeout).
        self._connections = concurrency + 10
        self.lean = Http1Client(self._connections, RESPONSE_BODY_LIMIT, pollable=True)
        self._httpx: httpx.AsyncClient | None = None
        self._tasks: set[_Task] = set()  # https:// forwards started by `start`

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
        if not sends_to(target):
            return await _post_httpx(
                self._httpx_client(), record_id, target, body, headers, timeout
            )
        started = time.perf_counter()
        try:
            result: Http1Response | Http1Error = await self.lean.post(
                target, body, headers, timeout
            )
        except Http1Error as exc:
            result = exc
        return _outcome(record_id, target, started, timeout, result)

    def start(
        self,
        record_id: str,
        target: str,
        body: bytes,
        headers: list[tuple[bytes, bytes]],
        timeout: float,
        landed: Callable[[Forwarded], None],
    ) -> None:
        """`post` with a callback (lanes.Send): `landed` gets the outcome, never from in here."""
        if not sends_to(target):
            client = self._httpx_client()
            task = asyncio.create_task(
                _post_httpx(client, record_id, target, body, headers, timeout)
            )
            self._tasks.add(task)
            task.add_done_callback(functools.partial(self._httpx_landed, landed, record_id, target))
            return
        started = time.perf_counter()
        done = functools.partial(_lean_landed, landed, record_id, target, started, timeout)
        self.lean.start(target, body, headers, timeout, done)

    def _httpx_landed(
        self, landed: Callable[[Forwarded], None], record_id: str, target: str, task: _Task
    ) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return  # closed: the lanes reported it
        error = task.exception()
        if error is not None:  # not expected: _post_httpx turns failures into outcomes
            landed(Forwarded(record_id, target, None, 0.0, f"{type(error).__name__}: {error}"))
        else:
            landed(task.result())

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
        for task in list(self._tasks):
            task.cancel()
        await self.lean.aclose()
        if self._httpx is not None:
            await self._httpx.aclose()


_Task = asyncio.Task[Forwarded]


def _outcome(
    record_id: str,
    target: str,
    started: float,
    timeout: float,
    result: Http1Response | Http1Error,
) -> Forwarded:
    ms = round((time.perf_counter() - started) * 1000, 3)
    if isinstance(result, Http1Response):
        answer = answer_headers(result.headers)
        return Forwarded(
            record_id, target, result.status, ms, None, result.body, answer, result.truncated
        )
    if isinstance(result, TimedOut):
        return Forwarded(record_id, target, None, ms, f"timed out after {timeout:g}s")
    # ConnectFailed's message is already "connection refused" or "connection failed: ...".
    return Forwarded(record_id, target, None, ms, result.message)


def _lean_landed(
    landed: Callable[[Forwarded], None],
    record_id: str,
    target: str,
    started: float,
    timeout: float,
    result: Http1Response | Http1Error,
) -> None:
    landed(_outcome(record_id, target, started, timeout, result))


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
    answer: tuple[tuple[str, str], ...] = ()
    truncated = False
    try:
        async with asyncio.timeout(timeout):
            request = client.build_request("POST", target, content=body, headers=headers)
            response = await client.send(request, stream=True)
            try:
                status = response.status_code
                answer = answer_headers(response.headers.raw)
                parts: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    if size < RESPONSE_BODY_LIMIT:
                        parts.append(chunk[: RESPONSE_BODY_LIMIT - size])
                    size += len(chunk)
                kept = b"".join(parts)
                truncated = size > RESPONSE_BODY_LIMIT
            finally:
                await response.aclose()
    except (TimeoutError, httpx.TimeoutException):
        status, error = None, f"timed out after {timeout:g}s"
    except httpx.ConnectError as exc:
        status, error = None, _connect_error(exc)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        status, error = None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    ms = (time.perf_counter() - started) * 1000
    return Forwarded(record_id, target, status, round(ms, 3), error, kept, answer, truncated)


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
