"""What the receiver does with an event whose signature passed (steps 4-6 of receiver/app.py):
deduplicate, filter, choose the answer by `config.respond`, record and report, hand on to the
forwarder, answer."""

from __future__ import annotations

import asyncio
import fnmatch
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from starlette.types import Send

from apimw_cli.models import Forwarded, Received, Verdict
from apimw_cli.protocol import DELIVERY_HEADER
from apimw_cli.receiver.events import ReceiverConfig, Respond
from apimw_cli.receiver.report import Arrival, Reporter
from apimw_cli.receiver.seen import Seen, SeenDeliveries, delivery_key
from apimw_cli.receiver.wire import TEXT, answer, send_response

if TYPE_CHECKING:  # httpx is imported only when there is something to forward
    from apimw_cli.receiver.forwarder import Forwarder

__all__ = ["DeliveryHandler"]

_DELIVERY = DELIVERY_HEADER.lower()
_TEXT_ONLY = (TEXT,)
_FAIL_NOTE = "answered 500 on purpose (--fail-rate)"
_NO_TARGET_NOTE = "passthrough: no --forward-to target, so no app status to return"


def event_matcher(patterns: tuple[str, ...]) -> Callable[[str | None], bool] | None:
    """Whether an event type matches one of the glob `patterns`; None when there are none."""
    if not patterns:
        return None
    regex = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))

    def matches(event_type: str | None) -> bool:
        return event_type is not None and regex.match(event_type) is not None

    return matches


class DeliveryHandler:
    """Steps 4-6 of the receiver for one verified (or unverified by choice) event."""

    def __init__(
        self,
        config: ReceiverConfig,
        reporter: Reporter,
        forwarder: Forwarder | None,
        rng: Callable[[], float],
    ) -> None:
        self.config = config
        self.forwarder = forwarder
        self._reporter = reporter
        self._rng = rng
        self._matches = event_matcher(config.events)
        self._seen = SeenDeliveries(config.dedupe_size)

    async def handle(
        self,
        arrival: Arrival,
        body: bytes,
        raw_headers: list[tuple[bytes, bytes]],
        event_type: str | None,
        verdict: Verdict,
        send: Send,
    ) -> None:
        """Answer one event and report it; `verdict` is its signature's (VALID or SKIPPED)."""
        config = self.config
        forwarder = self.forwarder
        if forwarder is not None:
            forwarder.poll()  # the lanes' turn between two requests (see below)
        key = delivery_key(arrival.headers.get(_DELIVERY), body)
        prior = self._seen.lookup(key)
        duplicate = prior is not None and prior.handled
        filtered = self._matches is not None and not self._matches(event_type)
        hand_on = forwarder is not None and not duplicate and not filtered
        outcome: Forwarded | None = None
        note: str | None = None
        remember = False
        # An empty body: uvicorn writes a non-empty one in a second send(), a second TCP segment.
        reply = b""

        if config.fail_rate > 0 and self._rng() < config.fail_rate:
            status, note, hand_on = 500, _FAIL_NOTE, False
            reply = note.encode()
        elif config.respond == Respond.PASSTHROUGH:
            if duplicate or filtered:
                status = 200
            elif forwarder is None:
                status, note = 503, _NO_TARGET_NOTE
                reply = note.encode()
            else:
                outcome = await forwarder.forward_now(
                    arrival.record_id, body, raw_headers, config.passthrough_timeout
                )
                status, reply, note = _passthrough_answer(outcome)
                remember = note is None and 200 <= status < 300
        else:
            remember = True  # handed on (a duplicate was already)
            status = config.status if config.respond == Respond.FIXED else 200

        received, where = self._reporter.report(
            arrival,
            status,
            "event",
            body,
            event_type=event_type,
            verdict=verdict,
            duplicate=duplicate,
            filtered=filtered,
            note=note,
            # A forward queue past its memory budget reads bodies back from the log.
            locate=hand_on and forwarder is not None and forwarder.spilling,
            prior=prior,
        )
        if received.record_error is not None:
            await self._refuse_unrecorded(received, key, prior, outcome, send)
            return
        self._seen.remember(key, prior, handled=remember, status=status)
        if forwarder is not None:
            if hand_on:
                _hand_on(forwarder, arrival.record_id, body, raw_headers, outcome, where)
            # The lanes' turn between two requests (Forwarder.poll says why), twice a request,
            # with its recording between: paired bursts forwarded 0.9-1.0x the receive rate so,
            # 0.6-0.9x with one poll or two side by side (the fast stack's answer is written
            # after this coroutine returns, so one after send_response would be beside this one).
            # A poll lets in at most one answer and writes one request (tens of µs).
            forwarder.poll()
        if config.delay > 0:
            await asyncio.sleep(config.delay)
        await send_response(send, status, reply, _TEXT_ONLY if note is not None else ())

    async def _refuse_unrecorded(
        self,
        received: Received,
        key: str,
        prior: Seen | None,
        outcome: Forwarded | None,
        send: Send,
    ) -> None:
        """An event the log could not take. Not kept, so not acknowledged: counted as an attempt
        but not as handed on, so APIMW's retry is forwarded like a first delivery (this one is
        not)."""
        if outcome is not None and self.forwarder is not None:
            self.forwarder.report(outcome)  # the app did get it (passthrough)
        self._seen.remember(key, prior, handled=False, status=received.status)
        await answer(send, received.status, received.note or "not recorded")


def _passthrough_answer(outcome: Forwarded) -> tuple[int, bytes, str | None]:
    """Status, body and note of a passthrough answer: the app's, or a 503 saying why not."""
    if outcome.status is None:
        note = f"passthrough: {outcome.target}: {outcome.error}"
        return 503, note.encode(), note
    return outcome.status, outcome.response_body, None


def _hand_on(
    forwarder: Forwarder,
    record_id: str,
    body: bytes,
    raw_headers: list[tuple[bytes, bytes]],
    outcome: Forwarded | None,
    where: tuple[int, int] | None,
) -> None:
    """Queue the event for its targets; after passthrough's synchronous forward to the first
    target, report that outcome and queue only the others."""
    if outcome is None:
        forwarder.submit(record_id, body, raw_headers, None, where)
        return
    forwarder.report(outcome)
    if len(forwarder.targets) > 1:
        forwarder.submit(record_id, body, raw_headers, forwarder.targets[1:], where)
