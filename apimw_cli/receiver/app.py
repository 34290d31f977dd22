"""The receiver's ASGI app: answers APIMW's deliveries and reports each one.

A plain ASGI callable rather than Starlette routes: one handler covers every path, and the
hot path (read, verify, deduplicate, record, answer) stays a few dozen microseconds.

Per request, in this order:
1. Only `config.path` when set (else 404, whatever the method), only POST (else 405; a GET
   with the session's `config.probe_token` in X-APIMW-Probe, the tunnel's self-check, is
   answered so but not reported), body
   within `config.max_body` (else 413, read as a stream, never buffered past the limit) and
   whole within `config.read_timeout` (else 408).
2. A `webhook.verification` body is answered at once: 200 with the challenge as text/plain, our
   contract in docs/apimw-api.md ("Webhooks"). A signature on it is checked and reported, but
   the challenge is answered either way.
3. The signature is verified against `config.secrets` (`skip_verify`: verdict SKIPPED). Invalid
   or missing: 401, never forwarded.
4. Duplicates (same X-APIMW-Delivery, else same SHA-256 of the raw body) are answered as a new
   event would be but not forwarded again. An event counts as seen once it was handed on: at
   once with ack/fixed, when the app answered 2xx with passthrough. `fail_rate` failures are not
   remembered (they play an endpoint that failed, so APIMW's retry is a first delivery).
5. Events not matching `config.events` are answered and marked filtered, not forwarded.
6. The request is recorded (one line, written before the answer), reported to the sink, handed
   to the forwarder, and answered according to `config.respond` after `config.delay`. An event
   the log cannot take (a full disk) is answered 503 with the reason and not forwarded (nor
   counted as handed on): APIMW delivers it again, and nothing acknowledged is off the disk.
   Each delivery's attempts are counted, so a retry is reported as one (`Received.attempt`).

Nothing a sender puts in a request raises here: a body that is not JSON (or too deep to parse)
is an event without a parsed type, header bytes are read as latin-1, and rendering is not
this module's business (the sink gets the raw bytes).

Status by mode for an accepted event: a `fail_rate` hit: 500 (not forwarded); FIXED:
`config.status` (forwarded in the background); ACK: 200 (forwarded in the background);
PASSTHROUGH: the first target's status (forwarded synchronously, others in the background), 200
for a duplicate or filtered event, and 503 when the app is down, fails, is slower than
`config.passthrough_timeout`, or no target was given.

Where each step lives: 1 in body.py (the body's limits), 2 in challenge.py, 3 in signatures.py,
4-6 in delivery.py (with seen.py for duplicates and report.py for the record/report step); this
module is the ASGI entry that runs them in order, and wire.py the bytes in and out.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.types import Receive, Scope, Send

from apimw_cli.catalog import VERIFICATION_TYPE
from apimw_cli.models import Verdict, VerdictCode
from apimw_cli.protocol import EVENT_HEADER, PROBE_HEADER, SIGNATURE_HEADER
from apimw_cli.receiver.body import DISCARD_LIMIT, Disconnected, TooLarge, TooSlow, read_body
from apimw_cli.receiver.challenge import challenge_answer
from apimw_cli.receiver.delivery import DeliveryHandler, Verified
from apimw_cli.receiver.events import ReceiverConfig, Respond, Sink
from apimw_cli.receiver.recorder import Recorder
from apimw_cli.receiver.report import Arrival, Reporter, new_record_id
from apimw_cli.receiver.signatures import SKIPPED, Signatures
from apimw_cli.receiver.wire import (
    ALLOW,
    CLOSE,
    Reply,
    decode_headers,
    parse_body,
    send_reply,
    text_reply,
)

if TYPE_CHECKING:  # httpx is imported only when there is something to forward
    from apimw_cli.receiver.forwarder import Forwarder

__all__ = ["DISCARD_LIMIT", "ReceiverApp", "create_app", "new_record_id"]

# Headers arrive with lower-case names.
_EVENT = EVENT_HEADER.lower()
_SIGNATURE = SIGNATURE_HEADER.lower()
_PROBE = PROBE_HEADER.lower()
# Reaching an Enum member costs 0.1 µs on Python 3.11 (a descriptor in Python): these are
# compared on every request, so they are looked up once.
_VALID_CODE, _SKIPPED_CODE = VerdictCode.VALID, VerdictCode.SKIPPED


class ReceiverApp:
    """The ASGI app; see the module docstring. Build it with `create_app`.

    Steps 1-3 (limits, the challenge, the signature) are here, steps 4-6 in
    `delivery.DeliveryHandler`. Two ways in, one set of steps: `__call__` (ASGI: the
    pure-Python stack, and requests that wait), and `respond_now` for a request whose body is
    all in when nothing has to wait (`answers_at_once`): the fast stack's protocol calls it
    directly and writes its `Reply`, with no coroutine and no ASGI messages per request.
    """

    def __init__(
        self,
        config: ReceiverConfig,
        sink: Sink,
        recorder: Recorder | None,
        forwarder: Forwarder | None,
        *,
        drain_timeout: float = 5.0,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.config = config
        self.sink = sink
        self.recorder = recorder
        self.forwarder = forwarder if forwarder is not None and forwarder.targets else None
        self.drain_timeout = drain_timeout
        self._signatures = Signatures(config.secrets)
        self._reporter = Reporter(recorder, sink)
        self._deliveries = DeliveryHandler(config, self._reporter, self.forwarder, rng)
        # Passthrough waits for the app, --delay for its timer: those requests need ASGI's way.
        self.answers_at_once = config.respond != Respond.PASSTHROUGH and config.delay <= 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await self._lifespan(receive, send)
            return
        config = self.config
        arrival = _arrival(scope)
        reply = self._refuse_early(arrival)
        if reply is None:
            limit, timeout = config.max_body, config.read_timeout
            try:
                body = await read_body(receive, arrival.headers, limit, timeout)
            except Disconnected:
                return  # the client left before sending its body: nothing to answer
            except TooLarge as too_large:
                why = f"body larger than {config.max_body} bytes"
                extra = () if too_large.drained else (CLOSE,)
                reply = self._reject(arrival, 413, why, *extra)
            except TooSlow:
                why = f"body not received whole within {config.read_timeout:g} s"
                reply = self._reject(arrival, 408, why, CLOSE)
            else:
                reply, event_type, verdict, strict = self._screen(arrival, body)
                if reply is None:
                    event = Verified(arrival, body, scope["headers"], event_type, verdict, strict)
                    reply = await self._deliveries.handle(event)
        await send_reply(send, reply)

    def respond_now(self, scope: Scope, body: bytes) -> Reply:
        """Every step for a request whose `body` is all in (within `config.max_body`), when
        `answers_at_once`: what `__call__` would send."""
        arrival = _arrival(scope)
        reply = self._refuse_early(arrival)
        if reply is None:
            reply, event_type, verdict, strict = self._screen(arrival, body)
            if reply is None:
                event = Verified(arrival, body, scope["headers"], event_type, verdict, strict)
                reply = self._deliveries.handle_now(event)
        return reply

    def _refuse_early(self, arrival: Arrival) -> Reply | None:
        """Step 1 before the body: a path we do not serve, a method other than POST."""
        config = self.config
        # The path first: a path we do not serve is 404 whatever the method, so a GET tells a
        # live session's URL (405) from a dead one's on the same host (404; see tunnel.answers).
        if config.path is not None and arrival.path != config.path:
            why = f"path {arrival.path} not served; the receiver listens on {config.path}"
            return self._reject(arrival, 404, why)
        if arrival.method != "POST":
            why = f"method {arrival.method} not allowed; the receiver accepts POST"
            if arrival.headers.get(_PROBE) == config.probe_token:  # our tunnel's self-check
                return text_reply(405, why, ALLOW)  # not an event: not reported
            return self._reject(arrival, 405, why, ALLOW)
        return None

    def _screen(
        self, arrival: Arrival, body: bytes
    ) -> tuple[Reply | None, str | None, Verdict, bool]:
        """Steps 2-3: the challenge's answer or a bad signature's 401 (reported), else None
        with the event's type, its signature's verdict and whether the body is strict JSON."""
        headers = arrival.headers
        parsed, strict = parse_body(body)
        body_type = parsed.get("type") if parsed is not None else None
        event_type = body_type if isinstance(body_type, str) else headers.get(_EVENT)
        signature = headers.get(_SIGNATURE)
        if body_type == VERIFICATION_TYPE and parsed is not None:
            reply = self._challenge(arrival, parsed, body, signature, strict)
            return reply, VERIFICATION_TYPE, SKIPPED, strict
        config = self.config
        checked = SKIPPED if config.skip_verify else self._signatures.check(body, signature)
        code = checked.code
        if code is not _VALID_CODE and code is not _SKIPPED_CODE:
            self._reporter.report(
                arrival, 401, "invalid", body, event_type=event_type, verdict=checked,
                strict_json=strict,
            )  # fmt: skip
            return text_reply(401, checked.reason), event_type, checked, strict
        return None, event_type, checked, strict

    def _challenge(
        self,
        arrival: Arrival,
        parsed: dict[str, Any],
        body: bytes,
        signature: str | None,
        strict: bool,
    ) -> Reply:
        """Step 2: answer the challenge (challenge.py) and report it."""
        text, verdict, note = challenge_answer(
            parsed, body, signature, self._signatures, self.config.skip_verify
        )
        self._reporter.report(
            arrival,
            200,
            "challenge",
            body,
            event_type=VERIFICATION_TYPE,
            verdict=verdict,
            note=note,
            strict_json=strict,
        )
        return text_reply(200, text)

    def _reject(
        self, arrival: Arrival, status: int, why: str, *extra: tuple[bytes, bytes]
    ) -> Reply:
        """Report and refuse a request before its body counts (wrong method or path, limits)."""
        self._reporter.report(arrival, status, "rejected", note=why)
        return text_reply(status, why, *extra)

    # --- lifespan: start the forwarder on the server's loop, drain it on shutdown ---

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    if self.forwarder is not None:
                        await self.forwarder.start()
                except Exception as exc:  # reported to uvicorn, which then refuses to start
                    await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.forwarder is not None:
                    await self.forwarder.drain(self.drain_timeout)
                await send({"type": "lifespan.shutdown.complete"})
                return


def _arrival(scope: Scope) -> Arrival:
    """What every report of the request repeats; the headers decoded once."""
    headers = decode_headers(scope["headers"])
    return Arrival(new_record_id(), time.time(), scope["method"], scope["path"], headers)


def create_app(
    config: ReceiverConfig,
    sink: Sink,
    recorder: Recorder | None,
    forwarder: Forwarder | None,
    *,
    drain_timeout: float = 5.0,
) -> ReceiverApp:
    """The receiver as an ASGI app (http and lifespan).

    `sink` is called on the server's event loop for every request (`Received`) and forward
    outcome (`Forwarded`): it must be thread-safe and must not block (a queue put). The app
    starts `forwarder` at lifespan startup and drains it (bounded by `drain_timeout`) at
    shutdown; it never closes `recorder`.
    """
    return ReceiverApp(config, sink, recorder, forwarder, drain_timeout=drain_timeout)
