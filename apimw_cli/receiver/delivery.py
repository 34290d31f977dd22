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
        strict_json: bool,
    ) -> Reply:
        """The answer to one event, reported; `verdict` is its signature's (VALID or SKIPPED).
        Passthrough waits for the app's answer, --delay for its timer; else as `handle_now`."""
        config = self.config
        if config.respond == Respond.PASSTHROUGH:
            reply = await self._passthrough(
                arrival, body, raw_headers, event_type, verdict, strict_json
            )
        else:
            reply = self.handle_now(arrival, body, raw_headers, event_type, verdict, strict_json)
        if config.delay > 0:
            await asyncio.sleep(config.delay)
        return reply

    def handle_now(
        self,
        arrival: Arrival,
        body: bytes,
        raw_headers: list[tuple[bytes, bytes]],
        event_type: str | None,
        verdict: Verdict,
        strict_json: bool,
    ) -> Reply:
        """`handle` for every mode but passthrough, without --delay's wait."""
        config = self.config
        if self.forwarder is not None:
            self.forwarder.poll()  # the lanes' turn between two requests (see _settle)
        key, prior, duplicate, filtered = self._look_up(arrival, body, event_type)
        event = _Event(arrival, body, raw_headers, event_type, verdict, strict_json)
        if config.fail_rate > 0 and self._rng() < config.fail_rate:
            return self._settle(event, key, prior, duplicate, filtered, 500, _FAIL_NOTE)
        status = config.status if config.respond == Respond.FIXED else 200
        # Handed on at once (a duplicate was already): remembered as handled.
        return self._settle(
            event, key, prior, duplicate, filtered, status,
            remember=True, hand_on=not duplicate and not filtered,
        )  # fmt: skip

    async def _passthrough(
        self,
        arrival: Arrival,
        body: bytes,
        raw_headers: list[tuple[bytes, bytes]],
        event_type: str | None,
        verdict: Verdict,
        strict_json: bool,
    ) -> Reply:
        """The first target's answer (forwarded now, others in the background), or a 503."""
        config, forwarder = self.config, self.forwarder
        if forwarder is not None:
            forwarder.poll()
        key, prior, duplicate, filtered = self._look_up(arrival, body, event_type)
        event = _Event(arrival, body, raw_headers, event_type, verdict, strict_json)
        if config.fail_rate > 0 and self._rng() < config.fail_rate:
            return self._settle(event, key, prior, duplicate, filtered, 500, _FAIL_NOTE)
        if duplicate or filtered:
            return self._settle(event, key, prior, duplicate, filtered, 200)
        if forwarder is None:
            return self._settle(event, key, prior, duplicate, filtered, 503, _NO_TARGET_NOTE)
        outcome = await forwarder.forward_now(
            arrival.record_id, body, raw_headers, config.passthrough_timeout
        )
        status, reply, note = _passthrough_answer(outcome)
        return self._settle(
            event, key, prior, duplicate, filtered, status, note,
            reply=reply, remember=note is None and 200 <= status < 300, hand_on=True,
            outcome=outcome,
        )  # fmt: skip

    def _look_up(
        self, arrival: Arrival, body: bytes, event_type: str | None
    ) -> tuple[str, Seen | None, bool, bool]:
        """The delivery's key, what was seen of it, whether it is a duplicate, and whether
        --events filters it out."""
        key = delivery_key(arrival.headers.get(_DELIVERY), body)
        prior = self._seen.lookup(key)
        duplicate = prior is not None and prior.handled
        filtered = self._matches is not None and not self._matches(event_type)
        return key, prior, duplicate, filtered

    def _settle(
        self,
        event: _Event,
        key: str,
        prior: Seen | None,
        duplicate: bool,
        filtered: bool,
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
        forwarder = self.forwarder
        hand_on = hand_on and forwarder is not None
        arrival, body, raw_headers = event.arrival, event.body, event.raw_headers
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
                _hand_on(forwarder, arrival.record_id, body, raw_headers, outcome, where)
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


class _Event:
    """One verified event on its way through steps 4-6 (what `handle` was given)."""

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
