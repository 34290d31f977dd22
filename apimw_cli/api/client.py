"""One HTTP client for the APIMW API: envelopes, typed errors, retries and rate limits.

What an error answer becomes is in `error_map.py`; when a request is sent again, and after how
long, in `retry.py`.

Token refusals: EXPIRED_TOKEN, INVALID_TOKEN and REVOKED_TOKEN come with a 401
(docs/apimw-api.md), and a 401 means the request was not applied for want of valid
credentials (RFC 9110, 15.5.2; the sandbox checks the token before anything else). So, whatever
the method, the token provider renews the token once and the request is sent once more; a
second refusal is the error. This module never prints: waits are announced through `notify`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypedDict

from apimw_cli.api import retry
from apimw_cli.api.error_map import error_from_response, snippet
from apimw_cli.errors import ApiError, AuthenticationError, ServerError
from apimw_cli.protocol import CLIENT_USER_AGENT

if TYPE_CHECKING:
    import httpx

# The 401 codes that say "this access token is no good" (docs/apimw-api.md): expired, never
# valid here (another server, a sandbox restarted in memory or reset), or revoked.
TOKEN_REJECTED = frozenset({"EXPIRED_TOKEN", "INVALID_TOKEN", "REVOKED_TOKEN"})


class TokenProvider(Protocol):
    """Supplies bearer tokens; `renew` is called once after a 401 with a TOKEN_REJECTED code."""

    def token(self) -> str: ...

    def renew(self, rejected: str, code: str) -> str: ...


def token_rejected(error: ApiError) -> bool:
    """Did the API refuse the bearer token itself (so it did nothing with the request)?"""
    return isinstance(error, AuthenticationError) and error.code in TOKEN_REJECTED


@dataclass(frozen=True)
class Response:
    """A successful answer: the unwrapped `data`, plus what came with it."""

    data: Any
    status: int
    headers: Mapping[str, str]
    url: str = ""  # the URL answered, to resolve a relative `next` link against
    # The envelope's other top-level members (`pagination`, `links`, `meta`, ...): some APIs
    # page there rather than inside `data`.
    extras: Mapping[str, Any] = field(default_factory=dict)

    @property
    def rate_limit(self) -> tuple[int, int, int] | None:
        """(limit, remaining, reset unix time) when the API sent them."""
        try:
            return (
                int(self.headers["X-RateLimit-Limit"]),
                int(self.headers["X-RateLimit-Remaining"]),
                int(self.headers["X-RateLimit-Reset"]),
            )
        except (KeyError, ValueError):
            return None


def as_list(data: Any, key: str) -> tuple[list[Any], Mapping[str, Any]]:
    """A list from `data` whether the API sent a list or `{key: [...], "pagination": {...}}`."""
    if isinstance(data, list):
        return data, {}
    if isinstance(data, Mapping):
        items = data.get(key, data.get("items", data.get("data")))
        pagination = data.get("pagination")
        if isinstance(items, list):
            return items, pagination if isinstance(pagination, Mapping) else {}
    raise ServerError(f"the API answered with an unexpected shape for a list of {key}")


class ClientOptions(TypedDict, total=False):
    """ApiClient's keyword options, for the factories that pass them on."""

    timeout: float
    connect_timeout: float
    transport: httpx.BaseTransport | None
    notify: Callable[[str], None] | None
    sleep: Callable[[float], None]
    max_retries: int


class ApiClient:
    """Talks to one APIMW base URL. Use as a context manager, or call close().

    `authenticator`, when given, makes the client's token provider from the client itself (the
    provider sends its auth/token and auth/refresh calls through it); api/auth.py's
    `authenticated_client` is the usual way to build an authenticated client.
    """

    def __init__(
        self,
        base_url: str,
        *,
        authenticator: Callable[[ApiClient], TokenProvider] | None = None,
        timeout: float = 30.0,
        connect_timeout: float = 5.0,
        transport: httpx.BaseTransport | None = None,
        notify: Callable[[str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_retries: int = retry.MAX_RETRIES,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._notify = notify or (lambda _msg: None)
        self._sleep = sleep
        self._max_retries = max_retries
        # httpx is imported here, when a request is about to be made (see api/transport.py).
        from apimw_cli.api.transport import httpx, transport_for

        self._http = httpx.Client(
            base_url=self.base_url + "/",
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            headers={"User-Agent": CLIENT_USER_AGENT, "Accept": "application/json"},
            # No TLS context for an http:// API (the sandbox); https:// verifies as usual.
            transport=transport if transport is not None else transport_for(self.base_url),
        )
        self._tokens = authenticator(self) if authenticator is not None else None

    @property
    def tokens(self) -> TokenProvider | None:
        """Where bearer tokens come from; None for a client that sends none."""
        return self._tokens

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
        auth: bool = True,
        bearer: str | None = None,
    ) -> Response:
        """Send one API call (with retries) and return its unwrapped `data`.

        `path` is relative to the base URL, or an absolute URL (a `next` link the API gave).
        `bearer` sends that token as is, never renewed (logout revokes the cached one with it).
        With `auth`, a 401 EXPIRED_TOKEN, INVALID_TOKEN or REVOKED_TOKEN triggers exactly one
        token renewal and one more try, whatever the method: the API refused the token, so it
        did not act on the request.
        """
        method = method.upper()

        def send(token: str | None) -> Response:
            return retry.with_retries(
                lambda: self._send_once(method, path, json_body, params, token),
                max_retries=self._max_retries,
                sleep=self._sleep,
                notify=self._notify,
            )

        if bearer is not None:
            return send(bearer)
        token = self._tokens.token() if auth and self._tokens else None
        try:
            return send(token)
        except AuthenticationError as exc:
            if token is None or self._tokens is None or not token_rejected(exc):
                raise
            assert exc.code is not None
            token = self._tokens.renew(token, exc.code)
        try:
            return send(token)
        except AuthenticationError as exc:
            if token_rejected(exc):
                exc.hint = (
                    "the API refused a freshly obtained token too: check the API address "
                    "(`apimw config show`) and try again"
                )
            raise

    def _send_once(
        self,
        method: str,
        path: str,
        json_body: Any,
        params: Mapping[str, Any] | None,
        token: str | None,
    ) -> Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        absolute = path.startswith(("http://", "https://"))
        target = path if absolute else path.lstrip("/")
        from apimw_cli.api.transport import httpx

        try:
            response = self._http.request(
                method, target, json=json_body, params=params, headers=headers
            )
        except httpx.HTTPError as exc:
            url = path if absolute else f"{self.base_url}/{target}"
            raise retry.after_no_answer(exc, method, url) from exc
        if response.is_success:
            return self._unwrap(response)
        raise retry.after_error_answer(error_from_response(response), method)

    @staticmethod
    def _unwrap(response: httpx.Response) -> Response:
        url = str(response.request.url)
        if response.status_code == 204 or not response.content:
            return Response(None, response.status_code, response.headers, url)
        try:
            body = response.json()
        except (ValueError, json.JSONDecodeError):
            raise ServerError(
                f"the API answered HTTP {response.status_code} with a body that is not JSON: "
                f"{snippet(response.text)}",
                status=response.status_code,
            ) from None
        if isinstance(body, Mapping) and "success" in body:
            if body.get("success") is False:
                raise error_from_response(response)
            extras = {k: v for k, v in body.items() if k not in ("success", "data")}
            return Response(body.get("data"), response.status_code, response.headers, url, extras)
        # Not an envelope: tolerate it and hand over the body as the data.
        return Response(body, response.status_code, response.headers, url)
