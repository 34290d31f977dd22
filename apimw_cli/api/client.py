"""One HTTP client for the APIMW API: envelopes, typed errors, retries and rate limits.

Retry rules (docs/apimw-api.md asks for exponential backoff):
- 429: always retried (the request was refused, not processed), waiting `error.retry_after`
  from the body or the `Retry-After` header, else exponential backoff; jitter on top.
- 5xx, timeouts, dropped connections: retried only for idempotent methods.
- A connection that could not even be opened is retried for any method: nothing was sent.
At most MAX_RETRIES retries.

Token refusals: EXPIRED_TOKEN, INVALID_TOKEN and REVOKED_TOKEN come with a 401
(docs/apimw-api.md), and a 401 means the request was not applied for want of valid
credentials (RFC 9110, 15.5.2; the sandbox checks the token before anything else). So, whatever
the method, the token provider renews the token once and the request is sent once more; a
second refusal is the error. This module never prints: waits are announced through `notify`.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import tenacity

from apimw_cli import __version__
from apimw_cli.errors import (
    ApiError,
    AuthenticationError,
    NetworkError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    ValidationError,
)

MAX_RETRIES = 3
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# Past this we stop waiting and tell the user when to come back.
MAX_RATE_LIMIT_WAIT = 120.0
REQUEST_ID_HEADERS = ("X-Request-Id", "X-Request-ID", "Request-Id", "X-Correlation-Id")
USER_AGENT = f"apimw-cli/{__version__}"


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


class _Retryable(Exception):
    """Internal: this attempt failed in a way the next one may not."""

    def __init__(self, error: Exception, wait: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.wait = wait


def _snippet(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _retry_after(response: httpx.Response, body: Mapping[str, Any] | None) -> float | None:
    error = body.get("error") if body else None
    if isinstance(error, Mapping):
        value = error.get("retry_after")
        if isinstance(value, int | float) and value >= 0:
            return float(value)
    header = response.headers.get("Retry-After")
    if header:
        try:
            return max(0.0, float(header))
        except ValueError:
            from email.utils import parsedate_to_datetime

            try:
                return max(0.0, parsedate_to_datetime(header).timestamp() - time.time())
            except (TypeError, ValueError):
                return None
    return None


def _error_from_response(response: httpx.Response) -> ApiError:
    """Map an error answer to the typed exception that carries what the API said."""
    status = response.status_code
    request_id = next(
        (response.headers[h] for h in REQUEST_ID_HEADERS if h in response.headers), None
    )
    body: Mapping[str, Any] | None = None
    try:
        parsed = response.json()
        body = parsed if isinstance(parsed, Mapping) else None
    except ValueError:
        body = None
    code: str | None = None
    message = ""
    if body is not None and isinstance(body.get("error"), Mapping):
        code = body["error"].get("code") if isinstance(body["error"].get("code"), str) else None
        raw_message = body["error"].get("message")
        message = raw_message if isinstance(raw_message, str) else ""
    if not message:
        text = response.text.strip()
        kind = "an empty body" if not text else "a non-JSON body" if body is None else "no message"
        message = f"HTTP {status} {response.reason_phrase} ({kind}"
        message += f": {_snippet(text)})" if text and body is None else ")"
    fields: dict[str, Any] = {"status": status, "code": code, "request_id": request_id}
    label = f"{code}: {message}" if code else message
    if status == 401:
        hint = {
            "EXPIRED_TOKEN": "the access token expired; run the command again",
            "INVALID_CREDENTIALS": "check the API key and secret (`apimw config show`), "
            "or run `apimw login` again",
            "REVOKED_TOKEN": "the token was revoked: run `apimw login` or unset APIMW_TOKEN",
        }.get(code or "", "check your credentials with `apimw config show` and `apimw whoami`")
        return AuthenticationError(label, hint=hint, **fields)
    if status == 403:
        return PermissionDeniedError(
            label,
            hint="your API key lacks a permission; `apimw whoami` lists the ones it has",
            **fields,
        )
    if status == 404:
        return NotFoundError(label, **fields)
    if status == 429:
        return RateLimitError(label, retry_after=_retry_after(response, body), **fields)
    if status in (400, 409, 413, 415, 422):
        return ValidationError(label, **fields)
    if status >= 500:
        return ServerError(label, hint="APIMW had a problem; try again shortly", **fields)
    return ApiError(label, **fields)


def _network_error(exc: httpx.HTTPError, method: str, url: str) -> NetworkError:
    if isinstance(exc, httpx.TimeoutException):
        what = "timed out"
        hint = "the API is slow or unreachable; raise the timeout with --timeout"
    elif isinstance(exc, httpx.ConnectError):
        what = f"could not connect ({_snippet(str(exc) or type(exc).__name__)})"
        hint = "check your network and --api-base; for the sandbox, is `apimw sandbox` running?"
    else:
        what = f"failed: {_snippet(str(exc) or type(exc).__name__)}"
        hint = "check your network and try again"
    return NetworkError(f"{method} {url} {what}", hint=hint)


class ApiClient:
    """Talks to one APIMW base URL. Use as a context manager, or call close()."""

    def __init__(
        self,
        base_url: str,
        *,
        tokens: TokenProvider | None = None,
        timeout: float = 30.0,
        connect_timeout: float = 5.0,
        transport: httpx.BaseTransport | None = None,
        notify: Callable[[str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_retries: int = MAX_RETRIES,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens
        self._notify = notify or (lambda _msg: None)
        self._sleep = sleep
        self._max_retries = max_retries
        self._http = httpx.Client(
            base_url=self.base_url + "/",
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            transport=transport,
        )

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
    ) -> Response:
        """Send one API call (with retries) and return its unwrapped `data`.

        With `auth`, a 401 EXPIRED_TOKEN, INVALID_TOKEN or REVOKED_TOKEN triggers exactly one
        token renewal and one more try, whatever the method: the API refused the token, so it
        did not act on the request.
        """
        method = method.upper()
        token = self.tokens.token() if auth and self.tokens else None
        try:
            return self._send_with_retries(method, path, json_body, params, token)
        except AuthenticationError as exc:
            if token is None or self.tokens is None or not token_rejected(exc):
                raise
            assert exc.code is not None
            token = self.tokens.renew(token, exc.code)
        try:
            return self._send_with_retries(method, path, json_body, params, token)
        except AuthenticationError as exc:
            if token_rejected(exc):
                exc.hint = (
                    "the API refused a freshly obtained token too: check the API address "
                    "(`apimw config show`) and try again"
                )
            raise

    def _send_with_retries(
        self,
        method: str,
        path: str,
        json_body: Any,
        params: Mapping[str, Any] | None,
        token: str | None,
    ) -> Response:
        def wait(state: tenacity.RetryCallState) -> float:
            assert state.outcome is not None
            error = state.outcome.exception()
            told = error.wait if isinstance(error, _Retryable) else None
            backoff = min(30.0, 0.5 * 2 ** (state.attempt_number - 1))
            base = told if told is not None else backoff
            return base + random.uniform(
                0, min(1.0, 0.1 * base + 0.2)
            )  # jitter: no thundering herd

        def announce(state: tenacity.RetryCallState) -> None:
            assert state.outcome is not None and state.next_action is not None
            error = state.outcome.exception()
            cause = error.error if isinstance(error, _Retryable) else error
            delay = state.next_action.sleep
            what = "rate limited" if isinstance(cause, RateLimitError) else f"{cause}"
            self._notify(
                f"{what}, retrying in {delay:.1f}s "
                f"(retry {state.attempt_number} of {self._max_retries})"
            )

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self._max_retries + 1),
            wait=wait,
            retry=tenacity.retry_if_exception_type(_Retryable),
            before_sleep=announce,
            sleep=self._sleep,
            reraise=True,
        )
        try:
            return retrying(self._send_once, method, path, json_body, params, token)
        except _Retryable as exc:
            if isinstance(exc.error, RateLimitError) and exc.error.hint is None:
                exc.error.hint = "still rate limited after retries: wait a minute, or slow down"
            raise exc.error from exc

    def _send_once(
        self,
        method: str,
        path: str,
        json_body: Any,
        params: Mapping[str, Any] | None,
        token: str | None,
    ) -> Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        url = f"{self.base_url}/{path.lstrip('/')}"
        try:
            response = self._http.request(
                method,
                path.lstrip("/"),
                json=json_body,
                params=params,
                headers=headers,
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            # Nothing reached the server: safe to retry whatever the method.
            raise _Retryable(_network_error(exc, method, url)) from exc
        except httpx.HTTPError as exc:
            network_error = _network_error(exc, method, url)
            if method in IDEMPOTENT_METHODS:
                raise _Retryable(network_error) from exc
            raise network_error from exc
        if response.is_success:
            return self._unwrap(response)
        error = _error_from_response(response)
        if isinstance(error, RateLimitError):
            if error.retry_after is not None and error.retry_after > MAX_RATE_LIMIT_WAIT:
                error.hint = f"the API asks to wait {error.retry_after:.0f}s; try again later"
                raise error
            raise _Retryable(error, wait=error.retry_after)
        if isinstance(error, ServerError) and method in IDEMPOTENT_METHODS:
            raise _Retryable(error)
        raise error

    @staticmethod
    def _unwrap(response: httpx.Response) -> Response:
        if response.status_code == 204 or not response.content:
            return Response(None, response.status_code, response.headers)
        try:
            body = response.json()
        except (ValueError, json.JSONDecodeError):
            raise ServerError(
                f"the API answered HTTP {response.status_code} with a body that is not JSON: "
                f"{_snippet(response.text)}",
                status=response.status_code,
            ) from None
        if isinstance(body, Mapping) and "success" in body:
            if body.get("success") is False:
                raise _error_from_response(response)
            return Response(body.get("data"), response.status_code, response.headers)
        # Not an envelope: tolerate it and hand over the body as the data.
        return Response(body, response.status_code, response.headers)
