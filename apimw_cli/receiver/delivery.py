"""What the receiver does with an event whose signature passed (steps 4-6 of receiver/app.py):
deduplicate, filter, choose the answer by `config.respond`, record and report, hand on to the
forwarder, answer."""

from __future__ import annotations

import asyncio
import fnmatch
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from apimw_cli.models import Forwarded, Received, Verdict
from apimw_cli.protocol import DELIVERY_HEADER
from apimw_cli.receiver.events import ReceiverConfig, Respond
from apimw_cli.receiver.report import Arrival, Reporter
from apimw_cli.receiver.seen import Seen, SeenDeliveries, delivery_key
from apimw_cli.receiver.wire import TEXT, Reply, text_reply

if TYPE_CHECKING:  # httpx is imported only when there is something to forward
    from apimw_cli.receiver.forwarder import Forwarder

__all__ = ["DeliveryHandler", "Verified"]

_DELIVERY = DELIVERY_HEADER.lower()
_TEXT_ONLY = (TEXT,)
# What the receiver knew of a delivery when it arrived: its key (seen.delivery_key), what was
# seen of it before, whether it is a duplicate (handed on before) and filtered out (--events).
# A plain tuple: one is made per request.
Lookup = tuple[str, Seen | None, bool, bool]
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
        # Decided once: reaching an Enum member costs 0.1 µs on Python 3.11, on every request.
        self._passthrough_mode = config.respond == Respond.PASSTHROUGH
        self._status = config.status if config.respond == Respond.FIXED else 200

    async def handle(self, event: Verified) -> Reply:
        """The answer to one event, reported. Passthrough waits for the app's answer, --delay
        for its timer; else as `handle_now`."""
        config = self.config
        if self._passthrough_mode:
            reply = await self._passthrough(event)
        else:
            reply = self.handle_now(event)
        if config.delay > 0:
            await asyncio.sleep(config.delay)
        return reply

    def handle_now(self, event: Verified) -> Reply:
        """`handle` for every mode but passthrough, without --delay's wait."""
        seen = self._look_up(event)
        if self._failing():
            return self._settle(event, seen, 500, _FAIL_NOTE)
        status = self._status
        _, _, duplicate, filtered = seen
        # Handed on at once (a duplicate was already): remembered as handled.
        return self._settle(
            event, seen, status, remember=True, hand_on=not duplicate and not filtered
        )

    async def _passthrough(self, event: Verified) -> Reply:
        """The first target's answer (forwarded now, others in the background), or a 503."""
        seen = self._look_up(event)
        if self._failing():
            return self._settle(event, seen, 500, _FAIL_NOTE)
        forwarder = self.forwarder
        _, _, duplicate, filtered = seen
        if duplicate or filtered:
            return self._settle(event, seen, 200)
        if forwarder is None:
            return self._settle(event, seen, 503, _NO_TARGET_NOTE)
        arrival = event.arrival
        outcome = await forwarder.forward_now(
            arrival.record_id, event.body, event.raw_headers, self.config.passthrough_timeout
        )
        status, reply, note = _passthrough_answer(outcome)
        return self._settle(
            event, seen, status, note,
            reply=reply, remember=note is None and 200 <= status < 300, hand_on=True,
            outcome=outcome,
        )  # fmt: skip

    def _look_up(self, event: Verified) -> Lookup:
        """What is known of the delivery. The forwarder's lanes get their turn first (see
        `_settle`)."""
        if self.forwarder is not None:
            self.forwarder.poll()
        key = delivery_key(event.arrival.headers.get(_DELIVERY), event.body)
        prior = self._seen.lookup(key)
        duplicate = prior is not None and prior.handled
        filtered = self._matches is not None and not self._matches(event.event_type)
        return key, prior, duplicate, filtered

    def _failing(self) -> bool:
        """Whether --fail-rate fails this request on purpose (500, not forwarded)."""
        rate = self.config.fail_rate
        return rate > 0 and self._rng() < rate

    def _settle(
        self,
        event: Verified,
        seen: Lookup,
        status: int,
        note: str | None = None,
        *,
        reply: bytes | None = None,
        remember: bool = False,
        hand_on: bool = False,
        outcome: Forwarded | None = None,
    ) -> Reply:
        """Record and report the event, remember it (`remember`: as handed on), give it to the
        forwarder (`hand_on`; after passthrough's `outcome`, to the other targets); the
        answer. `note` is also the answer's text, unless `reply` is given."""
        key, prior, duplicate, filtered = seen
        forwarder = self.forwarder
        hand_on = hand_on and forwarder is not None
        arrival, body = event.arrival, event.body
        received, where = self._reporter.report(
            arrival,
            status,
            "event",
            body,
            event_type=event.event_type,
            verdict=event.verdict,
            duplicate=duplicate,
            filtered=filtered,
            note=note,
            # A forward queue past its memory budget reads bodies back from the log.
            locate=hand_on and forwarder is not None and forwarder.spilling,
            prior=prior,
            strict_json=event.strict_json,
        )
        if received.record_error is not None:
            return self._refuse_unrecorded(received, key, prior, outcome)
        self._seen.remember(key, prior, handled=remember, status=status)
        if forwarder is not None:
            if hand_on:
                _hand_on(forwarder, arrival.record_id, body, event.raw_headers, outcome, where)
            # The lanes' turn between two requests (Forwarder.poll says why), twice a request,
            # with its recording between: paired bursts forwarded 0.9-1.0x the receive rate so,
            # 0.6-0.9x with one poll or two side by side (the fast stack's answer is written
            # after this returns, so one after the answer would be beside this one).
            # A poll lets in at most one answer and writes one request (tens of µs).
            forwarder.poll()
        if reply is None:
            reply = b"" if note is None else note.encode()
        # An empty answer has no Content-Type; a note is text.
        return status, reply, _TEXT_ONLY if note is not None else ()

    def _refuse_unrecorded(
        self,
        received: Received,
        key: str,
        prior: Seen | None,
        outcome: Forwarded | None,
    ) -> Reply:
        """An event the log could not take. Not kept, so not acknowledged: counted as an attempt
        but not as handed on, so APIMW's retry is forwarded like a first delivery (this one is
        not)."""
        if outcome is not None and self.forwarder is not None:
            self.forwarder.report(outcome)  # the app did get it (passthrough)
        self._seen.remember(key, prior, handled=False, status=received.status)
        return text_reply(received.status, received.note or "not recorded")


class Verified:
    """One event past the signature check, on its way through steps 4-6: what the receiver
    knows of it (`verdict` is its signature's, VALID or SKIPPED; `strict_json`: orjson read
    its body)."""

    __slots__ = ("arrival", "body", "event_type", "raw_headers", "strict_json", "verdict")

    def __init__(
        self,
        arrival: Arrival,
        body: bytes,
        raw_headers: list[tuple[bytes, bytes]],
        event_type: str | None,
        verdict: Verdict,
        strict_json: bool,
    ) -> None:
        self.arrival = arrival
        self.body = body
        self.raw_headers = raw_headers
        self.event_type = event_type
        self.verdict = verdict
        self.strict_json = strict_json


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
