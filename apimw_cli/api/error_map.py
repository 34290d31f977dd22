"""What an API error answer, or a request that got no answer, becomes: a typed ApimwError with
the API's words and a hint. Tables, as httpx maps transport exceptions: a status picks the
error class and its hint, a (status, code) pair may refine the hint.

The classes carry the exit codes (apimw_cli/errors.py); docs/apimw-api.md lists the codes.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

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
from apimw_cli.output.masking import redact

if TYPE_CHECKING:
    import httpx

REQUEST_ID_HEADERS = ("X-Request-Id", "X-Request-ID", "Request-Id", "X-Correlation-Id")


@dataclass(frozen=True)
class ErrorRule:
    """The class an error answer becomes, and the hint it carries (None: no hint)."""

    error: type[ApiError]
    hint: str | None = None


_VALIDATION = ErrorRule(ValidationError)

BY_STATUS: dict[int, ErrorRule] = {
    400: _VALIDATION,
    401: ErrorRule(
        AuthenticationError,
        "check your credentials with `apimw config show` and `apimw whoami`",
    ),
    403: ErrorRule(
        PermissionDeniedError,
        "your API key lacks a permission; `apimw whoami` lists the ones it has",
    ),
    404: ErrorRule(NotFoundError),
    409: _VALIDATION,
    413: _VALIDATION,
    415: _VALIDATION,
    422: _VALIDATION,
    429: ErrorRule(RateLimitError),
}
SERVER_ERROR = ErrorRule(ServerError, "APIMW had a problem; try again shortly")  # any 5xx
OTHER_ERROR = ErrorRule(ApiError)  # a status no rule names

# A code that says more than its status: the hint that replaces the status's.
HINT_BY_CODE: dict[tuple[int, str], str] = {
    (401, "EXPIRED_TOKEN"): "the access token expired; run the command again",
    (401, "INVALID_CREDENTIALS"): "check the API key and secret (`apimw config show`), "
    "or run `apimw login` again",
    (401, "REVOKED_TOKEN"): "the token was revoked: run `apimw login` or unset APIMW_TOKEN",
}


def rule_for(status: int) -> ErrorRule:
    if status >= 500:
        return SERVER_ERROR
    return BY_STATUS.get(status, OTHER_ERROR)


def snippet(text: str, limit: int = 120) -> str:
    """`text` on one line, cut to `limit` characters: enough of a body to recognise it."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def retry_after(response: httpx.Response, body: Mapping[str, Any] | None) -> float | None:
    """Seconds to wait, from the body's `error.retry_after` or else the `Retry-After` header."""
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


def _json_object(response: httpx.Response) -> Mapping[str, Any] | None:
    try:
        parsed = response.json()
    except ValueError:
        return None
    return parsed if isinstance(parsed, Mapping) else None


def _code_and_message(
    response: httpx.Response, body: Mapping[str, Any] | None
) -> tuple[str | None, str]:
    """The API's error code and message; a description of the answer when it gave none."""
    code: str | None = None
    message = ""
    error = body.get("error") if body is not None else None
    if isinstance(error, Mapping):
        given_code, given_message = error.get("code"), error.get("message")
        code = given_code if isinstance(given_code, str) else None
        message = given_message if isinstance(given_message, str) else ""
    if not message:
        text = response.text.strip()
        kind = "an empty body" if not text else "a non-JSON body" if body is None else "no message"
        message = f"HTTP {response.status_code} {response.reason_phrase} ({kind}"
        message += f": {snippet(text)})" if text and body is None else ")"
    return code, message


def error_from_response(response: httpx.Response) -> ApiError:
    """Map an error answer to the typed exception that carries what the API said."""
    status = response.status_code
    body = _json_object(response)
    code, message = _code_and_message(response, body)
    request_id = next(
        (response.headers[h] for h in REQUEST_ID_HEADERS if h in response.headers), None
    )
    rule = rule_for(status)
    hint = HINT_BY_CODE.get((status, code or ""), rule.hint)
    label = f"{code}: {message}" if code else message
    fields: dict[str, Any] = {"status": status, "code": code, "request_id": request_id}
    if rule.error is RateLimitError:
        return RateLimitError(label, retry_after=retry_after(response, body), hint=hint, **fields)
    return rule.error(label, hint=hint, **fields)


@dataclass(frozen=True)
class NetworkRule:
    """How a request that got no answer is told: what happened ({detail}: the exception's
    text) and what to check."""

    exception: type[httpx.HTTPError]
    what: str
    hint: str


@cache
def network_rules() -> tuple[NetworkRule, ...]:
    """First match wins, so the more specific exceptions come first. (A function: httpx is
    imported when a request is made, not with this module.)"""
    from apimw_cli.api.transport import httpx

    return (
        NetworkRule(
            httpx.TimeoutException,
            "timed out",
            "the API is slow or unreachable; raise the timeout with --timeout",
        ),
        NetworkRule(
            httpx.ConnectError,
            "could not connect ({detail})",
            "check your network and --api-base; for the sandbox, is `apimw sandbox` running?",
        ),
        NetworkRule(httpx.HTTPError, "failed: {detail}", "check your network and try again"),
    )


def network_error(exc: httpx.HTTPError, method: str, url: str) -> NetworkError:
    """The error for a request that got no answer. The URL's credentials, and any secret the
    transport's words quote, are masked here: the message may also go into a report file."""
    rule = next(r for r in network_rules() if isinstance(exc, r.exception))
    what = rule.what.format(detail=snippet(str(exc) or type(exc).__name__))
    return NetworkError(redact(f"{method} {url} {what}"), hint=rule.hint)
