"""Sends one delivery or one challenge the way APIMW does: signed, 5 s timeout, only a 200
counts. The worker (worker.py) decides what to send and when; this module does the HTTP.

http:// URLs (the sandbox's plain-HTTP webhooks are loopback apps) go through the lean
keep-alive client in apimw_cli.http1: a delivery costs a handful of µs there, against hundreds
in httpx. https:// URLs go through httpx, which is imported only when one is first needed (or a
URL is checked against httpx's rule, `url_refusal`). This is the sandbox's one httpx module.

Each webhook has its own small pool (PER_WEBHOOK connections), whichever client it uses: a
hanging endpoint holds its own connections only, never another webhook's.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from apimw_cli import catalog
from apimw_cli.http1 import Http1Client, Http1Error, TimedOut, sends_to
from apimw_cli.protocol import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SENDER_USER_AGENT,
    SIGNATURE_HEADER,
    echoes_challenge,
    is_loopback,
)
from apimw_cli.sandbox.store import DueDelivery
from apimw_cli.signing import sign

if TYPE_CHECKING:
    import ssl

    import httpx

# Connections per webhook; the worker never has more attempts in flight for one webhook.
PER_WEBHOOK = 4
# The most of an answer kept: a delivery needs its status, a challenge its (short) body.
MAX_ANSWER = 64 * 1024

HTTPS_ONLY = "must use HTTPS (plain http is accepted only for localhost, 127.0.0.1 and [::1])"

# What every delivery sends, as the http1 client takes headers (the same names and values as
# protocol.delivery_headers: a test keeps them equal).
_CONTENT_TYPE = (b"Content-Type", b"application/json")
_USER_AGENT = (b"User-Agent", SENDER_USER_AGENT.encode("ascii"))
_EVENT = EVENT_HEADER.encode("ascii")
_DELIVERY = DELIVERY_HEADER.encode("ascii")
_SIGNATURE = SIGNATURE_HEADER.encode("ascii")

# The names a failure gets in an attempt's `error`, whichever client sent it: what httpx calls
# the same failure, so records read alike for http:// and https:// webhooks and as before.
_FAILURE_NAMES = {"ConnectFailed": "ConnectError", "ProtocolFailed": "RemoteProtocolError"}


def url_refusal(url: str, *, plain_http: bool = False) -> str | None:
    """Why the sender could not POST to `url`, or None: a webhook URL is checked with this
    before it is stored, in the reading of the client that will send to it.

    `plain_http` (an http:// URL, sent by apimw_cli.http1): http1 reads it with urlsplit, as the
    URL rule (urls.py) did before calling this; the host it will connect to must be loopback in
    that reading. Otherwise httpx's: it refuses some URLs with InvalidURL, which is no
    httpx.HTTPError, and some with other errors (idna's for a bad `xn--` name)."""
    if plain_http:
        return _plain_refusal(url)
    import httpx

    try:
        parsed = httpx.URL(url)
        scheme, host = parsed.scheme, parsed.host  # .host decodes an IDNA name, and may raise
    except Exception as exc:  # whatever httpx raises, the URL is unusable
        return f"cannot be sent to ({reason_of(exc)})"
    if scheme not in ("http", "https") or not host:
        return "must be an absolute https:// URL"
    if scheme == "http" and not is_loopback(host):
        return HTTPS_ONLY
    return None


def _plain_refusal(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port  # .port raises for a port that is no number
    except ValueError as exc:
        return f"cannot be sent to ({reason_of(exc)})"
    if parts.scheme != "http" or not host:
        return "must be an absolute https:// URL"
    if not is_loopback(host):
        return HTTPS_ONLY
    return None


def reason_of(exc: BaseException) -> str:
    """An exception as one line: its class (as httpx names the same failure) and message."""
    name = exc.__class__.__name__
    name = _FAILURE_NAMES.get(name, name)
    message = " ".join(str(exc).split())
    return f"{name}: {message}" if message else name


def event_body(event: dict[str, Any]) -> bytes:
    """Compact JSON, as a platform sends it; the signature covers exactly these bytes. Made
    once per event (not per delivery), with the json module: it writes any number a client
    sent, where orjson refuses integers beyond 64 bits."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class Sender:
    """The HTTP side: POSTs deliveries and challenges. Made and used in the worker's loop."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._plain: dict[str, Http1Client] = {}  # webhook id -> its pool (http://)
        self._tls: dict[str, httpx.AsyncClient] = {}  # webhook id -> its pool (https://)
        self._plain_challenges = Http1Client(PER_WEBHOOK, MAX_ANSWER)
        self._tls_challenges: httpx.AsyncClient | None = None
        self._tls_context: ssl.SSLContext | None = None

    def _plain_pool(self, webhook_id: str) -> Http1Client:
        pool = self._plain.get(webhook_id)
        if pool is None:
            pool = self._plain[webhook_id] = Http1Client(PER_WEBHOOK, MAX_ANSWER)
        return pool

    def _tls_client(self) -> httpx.AsyncClient:
        import httpx

        if self._tls_context is None:
            # Loading the CA bundle takes tens of milliseconds: once, not once per webhook.
            self._tls_context = httpx.create_ssl_context()
        return httpx.AsyncClient(
            verify=self._tls_context,
            timeout=httpx.Timeout(self.timeout),
            follow_redirects=False,  # a redirect is not a 200: it is a failed attempt
            trust_env=False,  # never route deliveries through a proxy from the environment
            limits=httpx.Limits(max_connections=PER_WEBHOOK, max_keepalive_connections=PER_WEBHOOK),
        )

    def _tls_pool(self, webhook_id: str) -> httpx.AsyncClient:
        pool = self._tls.get(webhook_id)
        if pool is None:
            pool = self._tls[webhook_id] = self._tls_client()
        return pool

    async def aclose(self) -> None:
        """Close every pool, together: each may wait a moment for its connections to go."""
        pools: list[Http1Client | httpx.AsyncClient | None] = [
            *self._plain.values(),
            self._plain_challenges,
            *self._tls.values(),
            self._tls_challenges,
        ]
        self._plain.clear()
        self._tls.clear()
        await asyncio.gather(*(p.aclose() for p in pools if p is not None), return_exceptions=True)

    async def deliver(self, delivery: DueDelivery) -> tuple[int | None, str | None, int]:
        """One attempt: (status code, error or None on a 200, duration in ms)."""
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        try:
            if sends_to(delivery.url):
                status = await self._post_plain(delivery)
            else:
                status = await self._post_tls(delivery)
            if status != 200:
                error = f"HTTP {status}"
        except Exception as exc:  # any failure is a failed attempt, never a stuck one
            error = self._failure(exc)
        duration_ms = int((time.perf_counter() - started) * 1000)
        return status, error, duration_ms

    def _failure(self, exc: Exception) -> str:
        """An attempt's `error` for `exc`: the same words for both clients."""
        if isinstance(exc, TimedOut) or _is_httpx_error(exc, "TimeoutException"):
            return f"timed out after {self.timeout:g}s"
        if isinstance(exc, Http1Error) or _is_httpx_error(exc, "HTTPError"):
            return f"connection failed: {reason_of(exc)}"
        return f"could not send: {reason_of(exc)}"

    async def _post_plain(self, delivery: DueDelivery) -> int:
        headers = [
            _CONTENT_TYPE,
            _USER_AGENT,
            (_EVENT, delivery.event_type.encode("utf-8")),
            (_DELIVERY, delivery.id.encode("ascii")),
        ]
        if delivery.secret:
            headers.append((_SIGNATURE, sign(delivery.body, delivery.secret).encode("ascii")))
        pool = self._plain_pool(delivery.webhook_id)
        response = await pool.post(delivery.url, delivery.body, headers, self.timeout)
        return response.status

    async def _post_tls(self, delivery: DueDelivery) -> int:
        headers = _headers(delivery.event_type, delivery.id, delivery.secret, delivery.body)
        pool = self._tls_pool(delivery.webhook_id)
        response = await pool.post(delivery.url, content=delivery.body, headers=headers)
        return response.status_code

    async def challenge(self, url: str, secret: str | None) -> str | None:
        """POST a webhook.verification challenge; None when the answer echoes it, else why not."""
        challenge = secrets.token_urlsafe(24)
        body = event_body({"type": catalog.VERIFICATION_TYPE, "challenge": challenge})
        try:
            # A delivery's headers without a delivery id: a challenge is not a delivery.
            headers = _headers(catalog.VERIFICATION_TYPE, None, secret, body)
            status, answer = await self._post_challenge(url, body, headers)
        except Exception as exc:  # any failure is a failed verification
            if isinstance(exc, TimedOut) or _is_httpx_error(exc, "TimeoutException"):
                return f"the endpoint did not answer within {self.timeout:g}s"
            if isinstance(exc, Http1Error) or _is_httpx_error(exc, "HTTPError"):
                name = _FAILURE_NAMES.get(exc.__class__.__name__, exc.__class__.__name__)
                return f"the endpoint could not be reached ({name})"
            return f"the challenge could not be sent ({reason_of(exc)})"
        if status != 200:
            return f"the endpoint answered HTTP {status}"
        if not echoes_challenge(answer, challenge):
            return "the endpoint answered 200 without the challenge value"
        return None

    async def _post_challenge(
        self, url: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        if sends_to(url):
            pairs = [(k.encode("ascii"), v.encode("utf-8")) for k, v in headers.items()]
            response = await self._plain_challenges.post(url, body, pairs, self.timeout)
            return response.status, response.body
        if self._tls_challenges is None:
            self._tls_challenges = self._tls_client()
        answer = await self._tls_challenges.post(url, content=body, headers=headers)
        return answer.status_code, answer.content


def _headers(
    event_type: str, delivery_id: str | None, secret: str | None, body: bytes
) -> dict[str, str]:
    """A delivery's headers (protocol.delivery_headers), signed when there is a secret; a
    challenge's have no delivery id."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": SENDER_USER_AGENT,
        EVENT_HEADER: event_type,
    }
    if delivery_id is not None:
        headers[DELIVERY_HEADER] = delivery_id
    if secret:
        headers[SIGNATURE_HEADER] = sign(body, secret)
    return headers


def _is_httpx_error(exc: Exception, name: str) -> bool:
    """Whether `exc` is an httpx.`name`, without importing httpx for an http:// failure."""
    httpx = sys.modules.get("httpx")
    return httpx is not None and isinstance(exc, getattr(httpx, name))
