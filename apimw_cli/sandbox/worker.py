"""The delivery worker: sends due events to webhooks with APIMW's documented retries.

It runs in a thread of its own, with its own event loop (uvloop when the server stack has
it): hundreds of attempts in flight never lengthen the API's loop turns. In it, one task wakes
when something is due (a delivery, a retry, a message status change) and starts each attempt
as its own task, so a slow endpoint only ever holds its own slots (PER_WEBHOOK at most) and
never delays the others. Finished attempts are recorded together, one transaction per turn of
that task, not one each. The methods that event sources call (emit, send_message,
start_verification, wake) are safe to call from any thread. `Sender` (delivery.py) does the
HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

from apimw_cli import catalog
from apimw_cli.sandbox.background import LoopThread
from apimw_cli.sandbox.clock import Clock
from apimw_cli.sandbox.config import shows
from apimw_cli.sandbox.delivery import PER_WEBHOOK, Sender, event_body, reason_of
from apimw_cli.sandbox.outbox import Outbox
from apimw_cli.sandbox.store import AttemptOutcome, DueDelivery, FinishedAttempt, Store

# Attempts in flight: at most PER_WEBHOOK per webhook (a hanging endpoint holds no more than
# that), IN_FLIGHT in all. More in flight did not deliver faster; it only lengthened the GIL
# turns the API waits for (benchmarks/sandbox_delivery.py: 48 keeps API requests under 100 ms
# during 100 x 100 deliveries on 2 cores; 256 did not).
IN_FLIGHT = 48
BATCH = 48
REFILL = 12  # free slots worth a query

LogFn = Callable[[str, dict[str, Any]], None]
logger = logging.getLogger(__name__)
LOOP_FAULT_PAUSE = 1.0  # seconds the loop waits after a fault of its own before looking again


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
    pending again when it opens). Attempts that finished are recorded before the thread ends.
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
        loop: str = "asyncio",
    ) -> None:
        super().__init__(loop=loop)
        self.store = store
        self.clock = clock
        self.timeout = timeout
        self.outbox = Outbox(store, clock, self.emit, window=window)
        self._log = log or (lambda _kind, _fields: None)
        # Decided once: a record nobody will see is never gathered (one per attempt).
        self._logs_events = shows(log, "event")
        self._logs_deliveries = shows(log, "delivery")
        self._sender: Sender | None = None
        self._slots = Slots()
        self._finished: list[FinishedAttempt] = []  # attempts done, not yet recorded

    def _open(self) -> None:
        self._sender = Sender(self.timeout)

    async def _close(self) -> None:
        with contextlib.suppress(Exception):  # _flush reports its own faults
            self._flush()
        if self._sender is not None:
            await self._sender.aclose()

    # --- event sources ---
    def emit(self, event_type: str, data: dict[str, Any]) -> tuple[str, int]:
        """Queue an event for every subscribed active webhook; returns (event id, count)."""
        body = event_body(catalog.envelope(event_type, data))
        event_id, count = self.store.deliveries.enqueue_event(event_type, body, self.clock.now())
        if self._logs_events:
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
        """Record finished attempts, apply due message statuses and start due attempts;
        returns how long to wait."""
        self._flush()
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
                status, error, duration_ms = None, f"could not send: {reason_of(exc)}", 0
            retry_in = None if error is None else self.clock.retry_delay(delivery.attempts + 1)
            self._finished.append(
                FinishedAttempt(delivery, status, error, duration_ms, self.clock.now(), retry_in)
            )
        finally:
            # Its slot is free at once; the delivery stays `sending` in the store until it is
            # recorded, so no refill claims it again meanwhile.
            self._slots.give_back(delivery)
            self.wake()

    def _flush(self) -> None:
        """Record the finished attempts: together, or one by one when that fails (so that one
        bad record costs only itself)."""
        if not self._finished:
            return
        batch, self._finished = self._finished, []
        try:
            outcomes = self.store.deliveries.record_attempts(batch)
        except Exception:  # each is tried on its own below, and its fault logged
            for finished in batch:
                self._record_one(finished)
            return
        if self._logs_deliveries:
            for finished, outcome in zip(batch, outcomes, strict=True):
                self._log("delivery", _attempt_fields(finished, outcome))

    def _record_one(self, finished: FinishedAttempt) -> None:
        delivery = finished.delivery
        try:
            (outcome,) = self.store.deliveries.record_attempts([finished])
        except Exception as exc:  # said, and the delivery goes back in line
            self._fault(f"recording attempt {delivery.attempts + 1} of {delivery.id}", exc)
            with contextlib.suppress(Exception):
                self.store.deliveries.release(delivery.id)
            return
        if self._logs_deliveries:
            self._log("delivery", _attempt_fields(finished, outcome))

    # --- verification ---
    async def verify(self, webhook_id: str, url: str, secret: str | None) -> None:
        """POST the webhook.verification challenge and record whether it was echoed; any
        failure to send it is recorded as `verified: false` with the reason."""
        assert self._sender is not None
        try:
            error = await self._sender.challenge(url, secret)
        except Exception as exc:  # challenge catches all; this is the backstop
            error = f"the challenge could not be sent ({reason_of(exc)})"
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
        logger.error("sandbox: %s failed: %s", where, reason_of(exc))
        logger.debug("sandbox: %s failed", where, exc_info=exc)
        with contextlib.suppress(Exception):
            self._log("error", {"where": where, "error": reason_of(exc)})


def _attempt_fields(finished: FinishedAttempt, outcome: AttemptOutcome) -> dict[str, Any]:
    """What the log says about one attempt."""
    delivery = finished.delivery
    return {
        "delivery_id": delivery.id,
        "webhook_id": delivery.webhook_id,
        "url": delivery.url,
        "event_type": delivery.event_type,
        "attempt": outcome.attempt,
        "status_code": finished.status_code,
        "error": finished.error,
        "duration_ms": finished.duration_ms,
        "next_retry_in": None if outcome.next_at is None else outcome.next_at - finished.at,
        "disabled_reason": outcome.disabled_reason,
    }
