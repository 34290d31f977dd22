"""Sends events to webhooks the way APIMW does: signed, 5 s timeout, documented retries.

The worker runs in a thread of its own, with its own event loop: hundreds of attempts in
flight never lengthen the API's loop turns. In it, one task wakes when something is due (a
delivery, a retry, a message status change) and starts each attempt as its own task, so a slow
endpoint only ever holds its own slots (PER_WEBHOOK at most) and never delays the others.
The methods that event sources call (emit, send_message, start_verification, wake) are safe to
call from any thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx

from apimw_cli import catalog
from apimw_cli.protocol import SIGNATURE_HEADER
from apimw_cli.sandbox.clock import DELIVERED_AFTER, FAILED_AFTER, READ_AFTER, Clock
from apimw_cli.sandbox.store import DueDelivery, Store
from apimw_cli.signing import sign

USER_AGENT = "APIMW-Webhooks/1.0"
# Attempts in flight: at most PER_WEBHOOK per webhook (a hanging endpoint holds no more than
# that), IN_FLIGHT in all. More in flight did not deliver faster; it only lengthened the GIL
# turns the API waits for (benchmarks/sandbox_delivery.py: 48 keeps API requests under 100 ms
# during 100 x 100 deliveries on 2 cores; 256 did not).
PER_WEBHOOK = 4
IN_FLIGHT = 48
BATCH = 48
REFILL = 12  # free slots worth a query

LogFn = Callable[[str, dict[str, Any]], None]


def event_body(event: dict[str, Any]) -> bytes:
    """Compact JSON, as a platform sends it; the signature covers exactly these bytes."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class DeliveryWorker:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        timeout: float = 5.0,
        log: LogFn | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.timeout = timeout
        self._log = log or (lambda _kind, _fields: None)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._in_flight: set[str] = set()  # delivery ids with an attempt under way
        self._per_webhook: Counter[str] = Counter()
        self._attempts: set[asyncio.Task[None]] = set()
        self._http: httpx.AsyncClient | None = None  # verifications
        # One small pool per webhook: httpcore scans its whole pool for every request, so one
        # shared pool of hundreds of connections made each delivery cost O(connections).
        self._pools: dict[str, httpx.AsyncClient] = {}
        self._tls: ssl.SSLContext | None = None

    # --- lifecycle ---
    def _client(self, connections: int) -> httpx.AsyncClient:
        if self._tls is None:
            # Loading the CA bundle takes tens of milliseconds: once, not once per webhook.
            self._tls = httpx.create_ssl_context()
        return httpx.AsyncClient(
            verify=self._tls,
            timeout=httpx.Timeout(self.timeout),
            follow_redirects=False,  # a redirect is not a 200: it is a failed attempt
            trust_env=False,  # never route deliveries through a proxy from the environment
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        )

    def _pool(self, webhook_id: str) -> httpx.AsyncClient:
        pool = self._pools.get(webhook_id)
        if pool is None:
            pool = self._pools[webhook_id] = self._client(PER_WEBHOOK)
        return pool

    def start(self) -> None:
        """Start the worker's thread; returns once its loop runs."""
        started = threading.Event()
        self._thread = threading.Thread(
            target=self._thread_main, args=(started,), name="apimw-sandbox-delivery", daemon=True
        )
        self._thread.start()
        started.wait()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loop and wait for the thread. Attempts cut short are sent after a restart."""
        # The flag as well as the cancel: on Python 3.11, asyncio.wait_for can swallow a
        # cancellation that lands as its wait ends, and the loop would run on (past join's
        # timeout, into a closed store).
        self._stopping = True
        self.wake()
        if self._loop is not None and self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)
        if self._thread is not None:
            self._thread.join(timeout)

    def _thread_main(self, started: threading.Event) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._wake = asyncio.Event()
            self._http = self._client(PER_WEBHOOK)
            self._task = asyncio.current_task()
            started.set()
            try:
                await self._run()
            finally:
                for task in list(self._attempts):
                    task.cancel()
                await asyncio.gather(*self._attempts, return_exceptions=True)
                for client in [*self._pools.values(), self._http]:
                    await client.aclose()
                self._pools.clear()

        with contextlib.suppress(asyncio.CancelledError):
            asyncio.run(main())
        started.set()  # in case the loop failed before it was ready

    def wake(self) -> None:
        """Look for due work now (from any thread)."""
        if self._loop is None or self._wake is None:
            return
        if threading.current_thread() is self._thread:
            self._wake.set()
        else:
            with contextlib.suppress(RuntimeError):  # the loop has just closed
                self._loop.call_soon_threadsafe(self._wake.set)

    # --- event sources ---
    def emit(self, event_type: str, data: dict[str, Any]) -> tuple[str, int]:
        """Queue an event for every subscribed active webhook; returns (event id, count)."""
        body = event_body(catalog.envelope(event_type, data))
        event_id, count = self.store.enqueue_event(event_type, body, self.clock.now())
        self._log("event", {"event_id": event_id, "event_type": event_type, "webhooks": count})
        self.wake()
        return event_id, count

    def send_message(self, to: str, text: str) -> dict[str, Any]:
        """An outgoing message: sent now, then delivered and read (or failed) a moment later."""
        now = self.clock.now()
        message_id = catalog.message_id()
        self.store.create_message(message_id, to, text, now)
        if to.endswith("0000"):
            self.store.add_timer(now + self.clock.scaled(FAILED_AFTER), message_id, "failed")
        else:
            self.store.add_timer(now + self.clock.scaled(DELIVERED_AFTER), message_id, "delivered")
            self.store.add_timer(now + self.clock.scaled(READ_AFTER), message_id, "read")
        self.emit("message.sent", {"message_id": message_id, "to": to, "message_type": "text"})
        message = self.store.get_message(message_id)
        assert message is not None
        return message

    def _apply_timers(self, now: float) -> None:
        for message_id, status in self.store.pop_due_timers(now):
            message = self.store.get_message(message_id)
            if message is None:
                continue
            data: dict[str, Any] = {"message_id": message_id, "to": message["to"]}
            error = None
            if status == "failed":
                error = {
                    "code": "131026",
                    "message": "Message undeliverable: the recipient is not a WhatsApp user",
                }
                data["error"] = error
            self.store.set_message_status(message_id, status, now, error)
            self.emit(f"message.{status}", data)

    # --- the loop ---
    async def _run(self) -> None:
        assert self._wake is not None
        while not self._stopping:
            self._wake.clear()
            now = self.clock.now()
            self._apply_timers(now)
            started = 0
            free = IN_FLIGHT - len(self._in_flight)
            # Refill in batches, not after every finished attempt: each refill is a query.
            if free >= REFILL or (free > 0 and len(self._in_flight) < REFILL):
                started = self._refill(now, free)
            await self._sleep_until_due(started)

    def _refill(self, now: float, free: int) -> int:
        saturated = {w for w, n in self._per_webhook.items() if n >= PER_WEBHOOK}
        started = 0
        for delivery in self.store.claim_due(now, min(free, BATCH), exclude_webhooks=saturated):
            if self._per_webhook[delivery.webhook_id] < PER_WEBHOOK:
                self._start(delivery)
                started += 1
            else:
                self.store.release(delivery.id)  # over this webhook's share: back in line
        return started

    async def _sleep_until_due(self, started: int) -> None:
        next_at = self.store.next_due_at()
        wait = 1.0 if next_at is None else min(1.0, max(0.0, next_at - self.clock.now()))
        if wait <= 0 and not started:
            # Due, but held: no free slot, or its webhook is disabled. A finished attempt or an
            # API change wakes us.
            wait = 1.0
        assert self._wake is not None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                await self._wake.wait()

    def _start(self, delivery: DueDelivery) -> None:
        self._in_flight.add(delivery.id)
        self._per_webhook[delivery.webhook_id] += 1
        task = asyncio.create_task(self._attempt(delivery))
        self._attempts.add(task)
        task.add_done_callback(self._attempts.discard)

    async def _attempt(self, delivery: DueDelivery) -> None:
        try:
            status, error, duration_ms = await self._post(delivery)
            now = self.clock.now()
            outcome = self.store.record_attempt(
                delivery,
                status_code=status,
                error=error,
                duration_ms=duration_ms,
                now=now,
                retry_in=None if error is None else self.clock.retry_delay(delivery.attempts + 1),
            )
            self._log(
                "delivery",
                {
                    "delivery_id": delivery.id,
                    "webhook_id": delivery.webhook_id,
                    "url": delivery.url,
                    "event_type": delivery.event_type,
                    "attempt": outcome.attempt,
                    "status_code": status,
                    "error": error,
                    "duration_ms": duration_ms,
                    "next_retry_in": None if outcome.next_at is None else outcome.next_at - now,
                    "disabled_reason": outcome.disabled_reason,
                },
            )
        finally:
            self._in_flight.discard(delivery.id)
            self._per_webhook[delivery.webhook_id] -= 1
            if self._per_webhook[delivery.webhook_id] <= 0:
                del self._per_webhook[delivery.webhook_id]
            self.wake()

    async def _post(self, delivery: DueDelivery) -> tuple[int | None, str | None, int]:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-APIMW-Event": delivery.event_type,
            "X-APIMW-Delivery": delivery.id,
        }
        if delivery.secret:
            headers[SIGNATURE_HEADER] = sign(delivery.body, delivery.secret)
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        try:
            pool = self._pool(delivery.webhook_id)
            response = await pool.post(delivery.url, content=delivery.body, headers=headers)
            status = response.status_code
            if status != 200:
                error = f"HTTP {status}"
        except httpx.TimeoutException:
            error = f"timed out after {self.timeout:g}s"
        except httpx.HTTPError as exc:
            error = f"connection failed: {exc.__class__.__name__}: {exc}".rstrip(": ")
        duration_ms = int((time.perf_counter() - started) * 1000)
        return status, error, duration_ms

    # --- verification ---
    async def verify(self, webhook_id: str, url: str, secret: str | None) -> None:
        """POST the webhook.verification challenge and record whether it was echoed."""
        assert self._http is not None
        challenge = secrets.token_urlsafe(24)
        body = event_body({"type": catalog.VERIFICATION_TYPE, "challenge": challenge})
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-APIMW-Event": catalog.VERIFICATION_TYPE,
        }
        if secret:
            headers[SIGNATURE_HEADER] = sign(body, secret)
        error: str | None = None
        try:
            response = await self._http.post(url, content=body, headers=headers)
            if response.status_code != 200:
                error = f"the endpoint answered HTTP {response.status_code}"
            elif not _echoes(response, challenge):
                error = "the endpoint answered 200 without the challenge value"
        except httpx.TimeoutException:
            error = f"the endpoint did not answer within {self.timeout:g}s"
        except httpx.HTTPError as exc:
            error = f"the endpoint could not be reached ({exc.__class__.__name__})"
        if self.store.get_webhook(webhook_id) is None:
            return  # deleted meanwhile
        self.store.set_verification(webhook_id, error is None, error)
        self._log("verification", {"webhook_id": webhook_id, "url": url, "error": error})

    def start_verification(self, webhook_id: str, url: str, secret: str | None) -> None:
        """Send the challenge in the background (from any thread)."""
        if self._loop is None:
            return

        def begin() -> None:
            task = asyncio.create_task(self.verify(webhook_id, url, secret))
            self._attempts.add(task)
            task.add_done_callback(self._attempts.discard)

        self._loop.call_soon_threadsafe(begin)


def _echoes(response: httpx.Response, challenge: str) -> bool:
    """The contract: the challenge as a text body, or JSON {"challenge": value}."""
    text = response.text.strip()
    if text == challenge:
        return True
    try:
        parsed = json.loads(text)
    except ValueError:
        return False
    return isinstance(parsed, dict) and parsed.get("challenge") == challenge
