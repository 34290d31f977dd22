"""Network probes for `apimw doctor`: does the API answer (and what time it says), does a URL?

Facts only: each probe returns what it saw, and `commands/doctor.py` judges and words it.
Every call is short (CONNECT_TIMEOUT, READ_TIMEOUT) and never retried, so that `apimw doctor`
finishes quickly when the machine is offline.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit, urlunsplit

from apimw_cli.api.auth import authenticated_client
from apimw_cli.api.client import ApiClient
from apimw_cli.api.transport import httpx, transport_for
from apimw_cli.errors import ApiError, ServerError
from apimw_cli.models import Identity
from apimw_cli.protocol import LOOPBACK_ADDRESSES

if TYPE_CHECKING:
    from apimw_cli.settings import Credentials, Settings

CONNECT_TIMEOUT = 2.0  # seconds
READ_TIMEOUT = 3.0  # seconds


def probe_client(
    settings: Settings,
    credentials: Credentials | None,
    *,
    transport: httpx.BaseTransport | None = None,
) -> ApiClient:
    """An ApiClient for probing, authenticated like any other: short timeouts, no retries."""
    return authenticated_client(
        settings,
        credentials,
        timeout=READ_TIMEOUT,
        connect_timeout=CONNECT_TIMEOUT,
        transport=transport,
        max_retries=0,
    )


@dataclass(frozen=True)
class ApiProbe:
    """What GET auth/me showed. The API answered: with `identity`, or with `error`.

    `skew` is the API's clock minus ours, in seconds (None without a usable `Date` header).
    """

    identity: Identity | None = None
    error: ApiError | None = None
    skew: float | None = None


def clock_skew(date_header: str | None, sent: float, received: float) -> float | None:
    """The API's clock minus ours, from an HTTP `Date` header and when the request went and came.

    `Date` has one-second resolution and the server set it somewhere between `sent` and
    `received`: the result is good to about a second plus half the round trip.
    """
    if not date_header:
        return None
    try:
        server = parsedate_to_datetime(date_header).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return server - (sent + received) / 2


def probe_api(client: ApiClient, *, clock: Callable[[], float] = time.time) -> ApiProbe:
    """GET auth/me, authenticated when the client has a token provider.

    Any ApiError (credentials refused while getting the token or on auth/me, a 5xx, a body
    that is not APIMW's) means the API answered: it is returned in `error`. A NetworkError
    (nothing answered) is raised.
    """
    authenticated = client.tokens is not None
    try:
        if client.tokens is not None:
            client.tokens.token()  # get a token first: the timing below is auth/me's alone
        sent = clock()
        response = client.request("GET", "auth/me", auth=authenticated)
        received = clock()
    except ApiError as exc:
        return ApiProbe(error=exc)
    skew = clock_skew(response.headers.get("Date"), sent, received)
    if not authenticated:
        return ApiProbe(skew=skew)  # an open auth/me: odd, but it answered
    if not isinstance(response.data, dict):
        error = ServerError(
            "the answer to auth/me is not an object: is this an APIMW API?",
            status=response.status,
        )
        return ApiProbe(error=error, skew=skew)
    return ApiProbe(identity=Identity.from_api(response.data), skew=skew)


Failure = Literal["refused", "unresolved", "timeout", "other"]


@dataclass(frozen=True)
class UrlProbe:
    """One GET of a URL: `status` when an HTTP answer came (any status), else `error`, and
    the kind of `failure`: refused (nothing listens), unresolved (no such host), timeout."""

    url: str
    status: int | None = None
    error: str | None = None
    failure: Failure | None = None

    @property
    def answered(self) -> bool:
        return self.status is not None


def _connect_error(exc: httpx.ConnectError) -> tuple[str, Failure]:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused", "refused"
        if isinstance(cause, socket.gaierror):
            return "the host name does not resolve", "unresolved"
        cause = cause.__cause__ or cause.__context__
    text = str(exc)
    lowered = text.lower()
    if "refused" in lowered or "errno 111" in lowered:
        return "connection refused", "refused"
    if "name or service not known" in lowered or "nodename nor servname" in lowered:
        return "the host name does not resolve", "unresolved"
    return (f"connection failed: {text}" if text else "connection failed"), "other"


def probe_url(url: str, *, host_header: str | None = None) -> UrlProbe:
    """GET `url` (no redirects, no proxy from the environment) and report what answered.

    The body is not read. `host_header` keeps the original `Host` when `url` names a literal
    address in place of a name, as dev servers checking `Host` expect.
    """
    headers = {"Host": host_header} if host_header else {}
    timeout = httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT)
    try:
        with (
            httpx.Client(
                timeout=timeout,
                follow_redirects=False,
                trust_env=False,
                transport=transport_for(url),  # no TLS context to probe http://
            ) as client,
            client.stream("GET", url, headers=headers) as response,
        ):
            return UrlProbe(url, status=response.status_code)
    except httpx.TimeoutException:
        return UrlProbe(url, error="no answer within a few seconds", failure="timeout")
    except httpx.ConnectError as exc:
        error, failure = _connect_error(exc)
        return UrlProbe(url, error=error, failure=failure)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return UrlProbe(url, error=f"no HTTP answer ({detail})", failure="other")


def with_host(url: str, address: str) -> str:
    """`url` with its host replaced by the literal `address` (IPv6 in brackets)."""
    parts = urlsplit(url)
    host = f"[{address}]" if ":" in address else address
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = (f"{userinfo}@" if userinfo else "") + host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def probe_loopback(url: str) -> dict[str, UrlProbe]:
    """Probe a `localhost` URL on 127.0.0.1 and on ::1 (keeping `Host`), by address."""
    host_header = urlsplit(url).netloc.rpartition("@")[2]
    return {
        address: probe_url(with_host(url, address), host_header=host_header)
        for address in LOOPBACK_ADDRESSES
    }


def resolve_localhost() -> set[str]:
    """The loopback addresses `localhost` resolves to here (127.0.0.1, ::1 or both)."""
    try:
        infos = socket.getaddrinfo("localhost", None, type=socket.SOCK_STREAM)
    except OSError:
        return set()
    return {str(info[4][0]) for info in infos} & set(LOOPBACK_ADDRESSES)
