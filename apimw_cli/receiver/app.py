"""The receiver's ASGI app: answers APIMW's deliveries and reports each one.

A plain ASGI callable rather than Starlette routes: one handler covers every path, and the
hot path (read, verify, deduplicate, record, answer) stays a few dozen microseconds.

Per request, in this order:
1. Only POST (else 405), only `config.path` when set (else 404), body within `config.max_body`
   (else 413, read as a stream, never buffered past the limit) and whole within
   `config.read_timeout` (else 408).
2. A `webhook.verification` body is answered at once: 200 with the challenge as text/plain. A
   signature on it is checked and reported, but the challenge is answered either way.
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
"""

from __future__ import annotations

import asyncio
import fnmatch
import hashlib
import hmac
import itertools
import json
import os
import random
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from starlette.types import Message, Receive, Scope, Send

from apimw_cli.catalog import VERIFICATION_TYPE
from apimw_cli.models import Verdict, VerdictCode
from apimw_cli.receiver.events import Forwarded, Received, ReceiverConfig, Respond, Sink
from apimw_cli.receiver.guard import Pending, result_or_pending
from apimw_cli.receiver.recorder import Recorder
from apimw_cli.signing import PREFIX, sign, verify

if TYPE_CHECKING:  # httpx is imported only when there is something to forward
    from apimw_cli.receiver.forwarder import Forwarder

__all__ = ["DISCARD_LIMIT", "ReceiverApp", "create_app", "new_record_id"]

DELIVERY_HEADER = "x-apimw-delivery"
EVENT_HEADER = "x-apimw-event"
SIGNATURE_HEADER = "x-apimw-signature"
# Past max_body we read and drop up to this much more, so the client sees the 413 instead of a
# reset connection; beyond it we answer at once and close.
DISCARD_LIMIT = 8 * 1024 * 1024

SKIPPED = Verdict(VerdictCode.SKIPPED, "Signature verification is off (--skip-verify).")
TEXT = (b"content-type", b"text/plain; charset=utf-8")
CLOSE = (b"connection", b"close")
ALLOW = (b"allow", b"POST")


# Record ids count up from a random start: unique within a session and sorted by receipt, and
# unlikely to meet another session's. (A random id per request cost a getrandom() syscall.)
_record_ids = itertools.count(int.from_bytes(os.urandom(6), "big"))


def new_record_id() -> str:
    """A short unique id for one received request: ``rec_`` and 12 hex digits."""
    return f"rec_{next(_record_ids) & 0xFFFF_FFFF_FFFF:012x}"


def _event_matcher(patterns: tuple[str, ...]) -> Callable[[str | None], bool] | None:
    if not patterns:
        return None
    regex = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))

    def matches(event_type: str | None) -> bool:
        return event_type is not None and regex.match(event_type) is not None

    return matches


def _decode_headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in raw}
    if len(headers) == len(raw):
        return headers
    headers = {}  # a repeated header: join its values as HTTP does
    for name, value in raw:
        key = name.decode("latin-1")
        text = value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers


def _parse(body: bytes) -> dict[str, Any] | None:
    """The body as a JSON object, or None.

    orjson first (a third of the stdlib's cost, and this runs for every event); what it refuses
    but Python's json accepts (UTF-16/32, NaN, integers past 64 bits, lone surrogates) goes to
    the stdlib, so both read the same bodies the same way.
    """
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        try:
            parsed = json.loads(body)
        except (ValueError, RecursionError):  # not JSON, or nested too deep
            return None
    return parsed if isinstance(parsed, dict) else None


class _Hmac:
    """HMAC-SHA256 keyed once: each check copies the keyed state instead of setting the key up
    again, as `hmac.digest` does on every call. Only used to recognise a correct signature
    quickly; `verify` decides all other cases."""

    def __init__(self, key: bytes) -> None:
        self._keyed = hmac.new(key, digestmod=hashlib.sha256)

    def hexdigest(self, body: bytes) -> str:
        state = self._keyed.copy()
        state.update(body)
        return state.hexdigest()


class _Signatures:
    """signing.verify, with a fast path for the usual case: a correct signature.

    The verdicts the fast path returns are the ones `verify` itself produced at start-up for a
    body signed with each secret, so both paths answer alike; anything but an exact match goes
    to `verify`, which explains what is wrong.
    """

    def __init__(self, secrets: tuple[str, ...]) -> None:
        self.secrets = secrets
        self.valid: list[tuple[_Hmac, Verdict]] = []
        for secret in secrets:
            if secret:
                verdict = verify(b"", sign(b"", secret), secrets)
                key = _Hmac(secret.encode("utf-8"))
                probe = b'{"type":"message.sent"}'
                if PREFIX + key.hexdigest(probe) != sign(probe, secret):  # pragma: no cover
                    raise AssertionError("the fast HMAC disagrees with signing.sign")
                self.valid.append((key, verdict))

    def check(self, body: bytes, header: str | None) -> Verdict:
        if header is not None and len(header) == _SIGNED_LEN and header.isascii():
            prefix, given = header[:_PREFIX_LEN], header[_PREFIX_LEN:].lower()
            if prefix == PREFIX:
                for key, verdict in self.valid:
                    if hmac.compare_digest(key.hexdigest(body), given):
                        return verdict
        return verify(body, header, self.secrets)


_PREFIX_LEN = len(PREFIX)
_SIGNED_LEN = _PREFIX_LEN + 64


class _TooLarge(Exception):
    def __init__(self, drained: bool) -> None:
        self.drained = drained  # whether the whole body was read (the connection can stay open)


class _Disconnected(Exception):
    pass


class _TooSlow(Exception):
    pass


class ReceiverApp:
    """The ASGI app; see the module docstring. Build it with `create_app`."""

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
        self._rng = rng
        self._matches = _event_matcher(config.events)
        self._signatures = _Signatures(config.secrets)
        self._seen: OrderedDict[str, _Seen] = OrderedDict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

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

    # --- one request ---

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        config = self.config
        received_at = time.time()
        record_id = new_record_id()
        method: str = scope["method"]
        path: str = scope["path"]
        raw_headers: list[tuple[bytes, bytes]] = scope["headers"]
        headers = _decode_headers(raw_headers)

        def report(
            status: int,
            kind: str,
            body: bytes = b"",
            *,
            event_type: str | None = None,
            verdict: Verdict | None = None,
            duplicate: bool = False,
            filtered: bool = False,
            note: str | None = None,
            locate: bool = False,
            prior: _Seen | None = None,
        ) -> tuple[Received, tuple[int, int] | None]:
            received = Received(
                record_id=record_id,
                received_at=received_at,
                method=method,
                path=path,
                headers=headers,
                body=body,
                status=status,
                kind=kind,
                event_type=event_type,
                delivery_id=headers.get(DELIVERY_HEADER),
                verdict=verdict,
                duplicate=duplicate,
                filtered=filtered,
                note=note,
                attempt=1 if prior is None else prior.attempts + 1,
                previous_status=None if prior is None else prior.status,
            )
            where = None
            if self.recorder is not None:
                try:
                    where = self.recorder.write_request(received, locate=locate)
                except OSError as exc:  # a full disk, say: refuse what cannot be kept
                    reason = exc.strerror or str(exc) or type(exc).__name__
                    received.record_error = reason
                    if kind == "event":  # 5xx so APIMW delivers it again later
                        received.status = 503
                        received.note = f"not recorded: {reason}"
            self.sink(received)
            return received, where

        if method != "POST":
            why = f"method {method} not allowed; the receiver accepts POST"
            report(405, "rejected", note=why)
            await _answer(send, 405, why, ALLOW)
            return
        if config.path is not None and path != config.path:
            why = f"path {path} not served; the receiver listens on {config.path}"
            report(404, "rejected", note=why)
            await _answer(send, 404, why)
            return
        try:
            body = await self._read_body(receive, headers)
        except _Disconnected:
            return  # the client left before sending its body: nothing to answer
        except _TooLarge as too_large:
            why = f"body larger than {config.max_body} bytes"
            report(413, "rejected", note=why)
            await _answer(send, 413, why, *(() if too_large.drained else (CLOSE,)))
            return
        except _TooSlow:
            why = f"body not received whole within {config.read_timeout:g} s"
            report(408, "rejected", note=why)
            await _answer(send, 408, why, CLOSE)
            return

        parsed = _parse(body)
        body_type = parsed.get("type") if parsed is not None else None
        event_type = body_type if isinstance(body_type, str) else headers.get(EVENT_HEADER)
        signature = headers.get(SIGNATURE_HEADER)

        if body_type == VERIFICATION_TYPE and parsed is not None:
            await self._challenge(parsed, body, signature, report, send)
            return

        verdict = SKIPPED if config.skip_verify else self._signatures.check(body, signature)
        if verdict.code is not VerdictCode.VALID and verdict.code is not VerdictCode.SKIPPED:
            report(401, "invalid", body, event_type=event_type, verdict=verdict)
            await _answer(send, 401, verdict.reason)
            return

        delivery_id = headers.get(DELIVERY_HEADER)
        key = "id:" + delivery_id if delivery_id else "sha256:" + hashlib.sha256(body).hexdigest()
        prior = self._lookup(key)
        duplicate = prior is not None and prior.handled
        filtered = self._matches is not None and not self._matches(event_type)
        forwarder = self.forwarder
        hand_on = forwarder is not None and not duplicate and not filtered
        outcome: Forwarded | None = None
        note: str | None = None
        remember = False
        # An empty body: uvicorn writes a non-empty one in a second send(), a second TCP segment.
        reply = b""

        if config.fail_rate > 0 and self._rng() < config.fail_rate:
            status, note, hand_on = 500, "answered 500 on purpose (--fail-rate)", False
            reply = note.encode()
        elif config.respond == Respond.PASSTHROUGH:
            if duplicate or filtered:
                status = 200
            elif forwarder is None:
                status = 503
                note = "passthrough: no --forward-to target, so no app status to return"
                reply = note.encode()
            else:
                outcome = await forwarder.forward_now(
                    record_id, body, raw_headers, config.passthrough_timeout
                )
                if outcome.status is None:
                    status = 503
                    note = f"passthrough: {outcome.target}: {outcome.error}"
                    reply = note.encode()
                else:
                    status, reply = outcome.status, outcome.response_body
                    remember = 200 <= status < 300
        else:
            remember = True  # handed on (a duplicate was already)
            status = config.status if config.respond == Respond.FIXED else 200

        received, where = report(
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
            # Not kept, so not acknowledged: counted as an attempt but not as handed on, so
            # APIMW's retry is forwarded like a first delivery (this one is not).
            if outcome is not None and forwarder is not None:
                forwarder.report(outcome)  # the app did get it (passthrough)
            self._remember(key, prior, handled=False, status=received.status)
            await _answer(send, received.status, received.note or "not recorded")
            return
        self._remember(key, prior, handled=remember, status=status)
        if forwarder is not None and hand_on:
            if outcome is not None:
                forwarder.report(outcome)
                if len(forwarder.targets) > 1:
                    forwarder.submit(record_id, body, raw_headers, forwarder.targets[1:], where)
            else:
                forwarder.submit(record_id, body, raw_headers, None, where)
        if config.delay > 0:
            await asyncio.sleep(config.delay)
        await _send(send, status, reply, (TEXT,) if note is not None else ())

    async def _challenge(
        self,
        parsed: dict[str, Any],
        body: bytes,
        signature: str | None,
        report: Callable[..., tuple[Received, tuple[int, int] | None]],
        send: Send,
    ) -> None:
        config = self.config
        verdict: Verdict | None = None
        note: str | None = None
        if config.skip_verify:
            verdict = SKIPPED
        elif signature is not None:
            verdict = self._signatures.check(body, signature)
            if verdict.code is not VerdictCode.VALID:
                note = "challenge answered although its signature did not verify"
        challenge = parsed.get("challenge")
        if challenge is None:
            text = ""
            note = "the verification request carries no challenge value"
        elif isinstance(challenge, str):
            text = challenge
        else:
            try:
                text = json.dumps(challenge)
            except (ValueError, RecursionError):  # a sender's value, nested past echoing
                text = ""
                note = "the challenge value is nested too deep to echo"
        report(200, "challenge", body, event_type=VERIFICATION_TYPE, verdict=verdict, note=note)
        await _answer(send, 200, text)

    # --- helpers ---

    async def _read_body(self, receive: Receive, headers: dict[str, str]) -> bytes:
        limit = self.config.max_body
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit + DISCARD_LIMIT:
            raise _TooLarge(drained=False)
        message = result_or_pending(receive())  # no waiting when the body is all in
        if not isinstance(message, Pending):
            if message["type"] == "http.disconnect":
                raise _Disconnected
            if not message.get("more_body", False):
                body: bytes = message.get("body", b"")
                if len(body) > limit:
                    raise _TooLarge(drained=True)
                return body  # the usual case: the whole body in one message, and no timer
        # Still arriving: it must arrive whole within read_timeout (a trickle must not hold
        # the connection). Only here, as asyncio.timeout costs microseconds a request.
        try:
            async with asyncio.timeout(self.config.read_timeout):
                return await self._read_rest(message, receive, limit)
        except TimeoutError:
            raise _TooSlow from None

    async def _read_rest(
        self, message: Message | Pending[Message], receive: Receive, limit: int
    ) -> bytes:
        if isinstance(message, Pending):
            message = await message
            if message["type"] == "http.disconnect":
                raise _Disconnected
        body: bytes = message.get("body", b"")
        chunks = [body]
        size = len(body)
        while message.get("more_body", False):
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size <= limit:
                chunks.append(chunk)
            elif chunks:
                chunks = []  # over the limit: keep reading to answer cleanly, keep nothing
            if size > limit + DISCARD_LIMIT:
                raise _TooLarge(drained=False)
        if size > limit:
            raise _TooLarge(drained=True)
        return b"".join(chunks)

    def _lookup(self, key: str) -> _Seen | None:
        seen = self._seen.get(key)
        if seen is not None:
            self._seen.move_to_end(key)
        return seen

    def _remember(self, key: str, prior: _Seen | None, *, handled: bool, status: int) -> None:
        """Count this attempt of a delivery; `handled`: it was handed on (so a later attempt is
        a duplicate, not forwarded again)."""
        size = self.config.dedupe_size
        if size <= 0:
            return
        if prior is not None:
            prior.attempts += 1
            prior.handled = prior.handled or handled
            prior.status = status
            return
        seen = self._seen
        seen[key] = _Seen(1, handled, status)
        while len(seen) > size:
            seen.popitem(last=False)


@dataclass(slots=True)
class _Seen:
    """What the receiver knows of one delivery (by X-APIMW-Delivery, else the body's hash)."""

    attempts: int  # times it arrived this session
    handled: bool  # handed on (forwarded, or would be): later attempts are duplicates
    status: int  # what APIMW got the last time


async def _answer(send: Send, status: int, text: str, *extra: tuple[bytes, bytes]) -> None:
    # surrogatepass: a challenge is echoed as sent, even one with a lone surrogate in it.
    await _send(send, status, text.encode("utf-8", "surrogatepass"), (TEXT, *extra))


async def _send(
    send: Send, status: int, body: bytes, headers: tuple[tuple[bytes, bytes], ...]
) -> None:
    # Few headers: h11 validates each one, and this runs for every delivery.
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode("ascii"))],
        }
    )
    await send({"type": "http.response.body", "body": body})


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
