"""Sends events to webhooks the way APIMW does: signed, 5 s timeout, documented retries.

The worker runs in a thread of its own, with its own event loop: hundreds of attempts in
flight never lengthen the API's loop turns. In it, one task wakes when something is due (a
delivery, a retry, a message status change) and starts each attempt as its own task, so a slow
endpoint only ever holds its own slots (PER_WEBHOOK at most) and never delays the others.
The methods that event sources call (emit, send_message, start_verification, wake) are safe to
call from any thread. `Sender` does the HTTP: this is the sandbox's one httpx module.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import ssl
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx

from apimw_cli import catalog
from apimw_cli.protocol import (
    EVENT_HEADER,
    SENDER_USER_AGENT,
    SIGNATURE_HEADER,
    delivery_headers,
    echoes_challenge,
    is_loopback,
)
from apimw_cli.sandbox.background import LoopThread
from apimw_cli.sandbox.clock import Clock
from apimw_cli.sandbox.outbox import Outbox
from apimw_cli.sandbox.store import AttemptOutcome, DueDelivery, Store
from apimw_cli.signing import sign

# Attempts in flight: at most PER_WEBHOOK per webhook (a hanging endpoint holds no more than
# that), IN_FLIGHT in all. More in flight did not deliver faster; it only lengthened the GIL
# turns the API waits for (benchmarks/sandbox_delivery.py: 48 keeps API requests under 100 ms
# during 100 x 100 deliveries on 2 cores; 256 did not).
PER_WEBHOOK = 4
IN_FLIGHT = 48
BATCH = 48
REFILL = 12  # free slots worth a query

LogFn = Callable[[str, dict[str, Any]], None]
logger = logging.getLogger(__name__)
LOOP_FAULT_PAUSE = 1.0  # seconds the loop waits after a fault of its own before looking again


def url_refusal(url: str, *, plain_http: bool = False) -> str | None:
    """Why the sender could not POST to `url`, or None. httpx refuses some URLs with
    InvalidURL, which is no httpx.HTTPError, and some with other errors (idna's for a bad
    `xn--` name): a webhook URL is checked with this before it is stored. With `plain_http`
    the host must be loopback in httpx's reading too."""
    try:
        parsed = httpx.URL(url)
        scheme, host = parsed.scheme, parsed.host  # .host decodes an IDNA name, and may raise
    except Exception as exc:  # whatever httpx raises, the URL is unusable
        return f"cannot be sent to ({_reason(exc)})"
    if scheme not in ("http", "https") or not host:
        return "must be an absolute https:// URL"
    if plain_http and not is_loopback(host):
        return "must use HTTPS (plain http is accepted only for localhost, 127.0.0.1 and [::1])"
    return None


def _reason(exc: BaseException) -> str:
    """An exception as one line: its class and message."""
    message = " ".join(str(exc).split())
    return f"{exc.__class__.__name__}: {message}" if message else exc.__class__.__name__


def event_body(event: dict[str, Any]) -> bytes:
    """Compact JSON, as a platform sends it; the signature covers exactly these bytes."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class Sender:
    """The HTTP side: POSTs deliveries and challenges. Made and used in the worker's loop."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        # Loading the CA bundle takes tens of milliseconds: once, not once per webhook.
        self._tls: ssl.SSLContext = httpx.create_ssl_context()
        self._verifications = self._client(PER_WEBHOOK)
        # One small pool per webhook: httpcore scans its whole pool for every request, so one
        # shared pool of hundreds of connections made each delivery cost O(connections).
        self._pools: dict[str, httpx.AsyncClient] = {}

    def _client(self, connections: int) -> httpx.AsyncClient:
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

    async def aclose(self) -> None:
        for client in [*self._pools.values(), self._verifications]:
            await client.aclose()
        self._pools.clear()

    async def deliver(self, delivery: DueDelivery) -> tuple[int | None, str | None, int]:
        """One attempt: (status code, error or None on a 200, duration in ms)."""
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        try:
            headers = delivery_headers(delivery.event_type, delivery.id)
            if delivery.secret:
                headers[SIGNATURE_HEADER] = sign(delivery.body, delivery.secret)
            pool = self._pool(delivery.webhook_id)
            response = await pool.post(delivery.url, content=delivery.body, headers=headers)
            status = response.status_code
            if status != 200:
                error = f"HTTP {status}"
        except httpx.TimeoutException:
            error = f"timed out after {self.timeout:g}s"
        except httpx.HTTPError as exc:
            error = f"connection failed: {_reason(exc)}"
        except Exception as exc:  # any failure is a failed attempt, never a stuck one
            error = f"could not send: {_reason(exc)}"
        duration_ms = int((time.perf_counter() - started) * 1000)
        return status, error, duration_ms

    async def challenge(self, url: str, secret: str | None) -> str | None:
        """POST a webhook.verification challenge; None when the answer echoes it, else why not."""
        challenge = secrets.token_urlsafe(24)
        body = event_body({"type": catalog.VERIFICATION_TYPE, "challenge": challenge})
        # A delivery's headers without a delivery id: a challenge is not a delivery.
        headers = {
            "Content-Type": "application/json",
            "User-Agent": SENDER_USER_AGENT,
            EVENT_HEADER: catalog.VERIFICATION_TYPE,
        }
        try:
            if secret:
                headers[SIGNATURE_HEADER] = sign(body, secret)
            response = await self._verifications.post(url, content=body, headers=headers)
        except httpx.TimeoutException:
            return f"the endpoint did not answer within {self.timeout:g}s"
        except httpx.HTTPError as exc:
            return f"the endpoint could not be reached ({exc.__class__.__name__})"
        except Exception as exc:  # any failure is a failed verification
            return f"the challenge could not be sent ({_reason(exc)})"
        if response.status_code != 200:
            return f"the endpoint answered HTTP {response.status_code}"
        if not echoes_challenge(response.content, challenge):
            return "the endpoint answered 200 without the challenge value"
        return None


class Slots:
    """Attempts in flight: IN_FLIGHT in all, PER_WEBHOOK per webhook."""

    def __init__(self) -> None:
        self._deliveries: set[str] = set()  # delivery ids with an attempt under way
        self._per_webhook: Counter[str] = Counter()

    @property
    def busy(self) -> int:
        return len(self._deliveries)

    @property
    def free(self) -> int:
        return IN_FLIGHT - len(self._deliveries)

    def full_webhooks(self) -> set[str]:
        return {w for w, n in self._per_webhook.items() if n >= PER_WEBHOOK}

    def take(self, delivery: DueDelivery) -> bool:
        """Reserve a slot for `delivery`; False when its webhook has none left."""
        if self._per_webhook[delivery.webhook_id] >= PER_WEBHOOK:
            return False
        self._deliveries.add(delivery.id)
        self._per_webhook[delivery.webhook_id] += 1
        return True

    def give_back(self, delivery: DueDelivery) -> None:
        self._deliveries.discard(delivery.id)
        self._per_webhook[delivery.webhook_id] -= 1
        if self._per_webhook[delivery.webhook_id] <= 0:
            del self._per_webhook[delivery.webhook_id]


class DeliveryWorker(LoopThread):
    """Delivers due events, applies due message statuses, sends verification challenges.

    A stop cuts attempts short; they are sent again after a restart (the store marks them
    pending again when it opens).
    """

    thread_name = "apimw-sandbox-delivery"

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        timeout: float = 5.0,
        log: LogFn | None = None,
        window: bool = True,
    ) -> None:
        super().__init__()
        self.store = store
        self.clock = clock
        self.timeout = timeout
        self.outbox = Outbox(store, clock, self.emit, window=window)
        self._log = log or (lambda _kind, _fields: None)
        self._sender: Sender | None = None
        self._slots = Slots()

    def _open(self) -> None:
        self._sender = Sender(self.timeout)

    async def _close(self) -> None:
        if self._sender is not None:
            await self._sender.aclose()

    # --- event sources ---
    def emit(self, event_type: str, data: dict[str, Any]) -> tuple[str, int]:
        """Queue an event for every subscribed active webhook; returns (event id, count)."""
        body = event_body(catalog.envelope(event_type, data))
        event_id, count = self.store.deliveries.enqueue_event(event_type, body, self.clock.now())
        self._log("event", {"event_id": event_id, "event_type": event_type, "webhooks": count})
        self.wake()
        return event_id, count

    def send_message(self, to: str, text: str, *, template: str | None = None) -> dict[str, Any]:
        """An outgoing message: sent now, then delivered and read (or failed) a moment later."""
        return self.outbox.send(to, text, template=template)

    def receive_message(self, data: dict[str, Any]) -> tuple[str, int]:
        """A customer's message: opens their 24-hour window, then message.received goes out."""
        return self.outbox.inbound(data)

    # --- the loop ---
    async def _run(self) -> None:
        while not self._stopping:
            assert self._wake is not None
            self._wake.clear()
            try:
                wait = self._turn()
            except Exception as exc:  # the loop outlives any one fault
                self._fault("the delivery loop", exc)
                wait = LOOP_FAULT_PAUSE
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()

    def _turn(self) -> float:
        """Apply due message statuses and start due attempts; returns how long to wait."""
        now = self.clock.now()
        self.outbox.apply_due(now)
        started = 0
        free = self._slots.free
        # Refill in batches, not after every finished attempt: each refill is a query.
        if free >= REFILL or (free > 0 and self._slots.busy < REFILL):
            started = self._refill(now, free)
        return self._wait_for_due(started)

    def _refill(self, now: float, free: int) -> int:
        full = self._slots.full_webhooks()
        started = 0
        deliveries = self.store.deliveries
        for delivery in deliveries.claim_due(now, min(free, BATCH), exclude_webhooks=full):
            if self._slots.take(delivery):
                self._track(self._attempt(delivery))
                started += 1
            else:
                deliveries.release(delivery.id)  # over this webhook's share: back in line
        return started

    def _wait_for_due(self, started: int) -> float:
        """Seconds until something is due (at most 1 s: API changes wake the loop anyway)."""
        next_at = self.store.deliveries.next_due_at()
        wait = 1.0 if next_at is None else min(1.0, max(0.0, next_at - self.clock.now()))
        if wait <= 0 and not started:
            # Due, but held: no free slot, or its webhook is disabled. A finished attempt or an
            # API change wakes us.
            wait = 1.0
        return wait

    async def _attempt(self, delivery: DueDelivery) -> None:
        """One attempt, recorded whatever happens: a failure of any kind is a failed attempt
        that follows the retry schedule and counts towards disabling the webhook."""
        assert self._sender is not None
        try:
            try:
                status, error, duration_ms = await self._sender.deliver(delivery)
            except Exception as exc:  # deliver catches all; this is the backstop
                status, error, duration_ms = None, f"could not send: {_reason(exc)}", 0
            self._record(delivery, status, error, duration_ms)
        finally:
            self._slots.give_back(delivery)
            self.wake()

    def _record(
        self, delivery: DueDelivery, status: int | None, error: str | None, duration_ms: int
    ) -> None:
        now = self.clock.now()
        try:
            outcome = self.store.deliveries.record_attempt(
                delivery,
                status_code=status,
                error=error,
                duration_ms=duration_ms,
                now=now,
                retry_in=None if error is None else self.clock.retry_delay(delivery.attempts + 1),
            )
        except Exception as exc:  # said, and the delivery goes back in line
            self._fault(f"recording attempt {delivery.attempts + 1} of {delivery.id}", exc)
            with contextlib.suppress(Exception):
                self.store.deliveries.release(delivery.id)
            return
        self._log("delivery", _attempt_fields(delivery, outcome, status, error, duration_ms, now))

    # --- verification ---
    async def verify(self, webhook_id: str, url: str, secret: str | None) -> None:
        """POST the webhook.verification challenge and record whether it was echoed; any
        failure to send it is recorded as `verified: false` with the reason."""
        assert self._sender is not None
        try:
            error = await self._sender.challenge(url, secret)
        except Exception as exc:  # challenge catches all; this is the backstop
            error = f"the challenge could not be sent ({_reason(exc)})"
        # Only while the webhook still has that url: a PATCH meanwhile verifies its own.
        if self.store.webhooks.set_verification(webhook_id, url, error is None, error):
            self._log("verification", {"webhook_id": webhook_id, "url": url, "error": error})

    def start_verification(self, webhook_id: str, url: str, secret: str | None) -> None:
        """Send the challenge in the background (from any thread)."""
        self.call_soon(self.verify(webhook_id, url, secret))

    # --- faults ---
    def _task_failed(self, exc: BaseException) -> None:
        self._fault("a background task", exc)

    def _fault(self, where: str, exc: BaseException) -> None:
        """A fault of the sandbox's own (not an endpoint's): logged, never silent."""
        logger.error("sandbox: %s failed: %s", where, _reason(exc))
        logger.debug("sandbox: %s failed", where, exc_info=exc)
        with contextlib.suppress(Exception):
            self._log("error", {"where": where, "error": _reason(exc)})


def _attempt_fields(
    delivery: DueDelivery,
    outcome: AttemptOutcome,
    status: int | None,
    error: str | None,
    duration_ms: int,
    now: float,
) -> dict[str, Any]:
    """What the log says about one attempt."""
    return {
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
    }
