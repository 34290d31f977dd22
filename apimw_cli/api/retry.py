"""When the client sends a request again, and how long it waits first.

docs/apimw-api.md asks for exponential backoff:
- 429: always retried (the request was refused, not processed), waiting `error.retry_after`
  from the body or the `Retry-After` header, else exponential backoff; jitter on top.
- 5xx, timeouts, dropped connections: retried only for idempotent methods.
- A connection that could not even be opened is retried for any method: nothing was sent.
At most MAX_RETRIES retries. Waits are announced through `notify`, never printed here.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from apimw_cli.api.error_map import network_error
from apimw_cli.errors import ApiError, RateLimitError, ServerError

if TYPE_CHECKING:
    import httpx
    import tenacity

MAX_RETRIES = 3
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# Past this we stop waiting and tell the user when to come back.
MAX_RATE_LIMIT_WAIT = 120.0

T = TypeVar("T")


class Retryable(Exception):
    """This attempt failed in a way the next one may not; `wait` is what the API asked for."""

    def __init__(self, error: Exception, wait: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.wait = wait


def after_no_answer(exc: httpx.HTTPError, method: str, url: str) -> Exception:
    """What to raise when a request got no answer: Retryable when sending again is safe."""
    from apimw_cli.api.transport import httpx

    error = network_error(exc, method, url)
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return Retryable(error)  # nothing reached the server: safe whatever the method
    return Retryable(error) if method in IDEMPOTENT_METHODS else error


def after_error_answer(error: ApiError, method: str) -> Exception:
    """What to raise for an error answer: Retryable for a rate limit we can wait out, and
    for a server error on an idempotent method."""
    if isinstance(error, RateLimitError):
        if error.retry_after is not None and error.retry_after > MAX_RATE_LIMIT_WAIT:
            error.hint = f"the API asks to wait {error.retry_after:.0f}s; try again later"
            return error
        return Retryable(error, wait=error.retry_after)
    if isinstance(error, ServerError) and method in IDEMPOTENT_METHODS:
        return Retryable(error)
    return error


def backoff(attempt: int, told: float | None) -> float:
    """Seconds before retry number `attempt`: what the API told, else exponential; plus jitter,
    so that many clients refused at once do not come back at once."""
    base = told if told is not None else min(30.0, 0.5 * 2 ** (attempt - 1))
    return base + random.uniform(0, min(1.0, 0.1 * base + 0.2))


def with_retries(
    attempt: Callable[[], T],
    *,
    max_retries: int,
    sleep: Callable[[float], None],
    notify: Callable[[str], None],
) -> T:
    """`attempt()`, again after each Retryable it raises, at most `max_retries` more times;
    the last failure's error is raised. tenacity is imported only once an attempt failed: most
    requests are answered at once."""
    try:
        return attempt()
    except Retryable as exc:
        first: list[Retryable] = [exc]

    def again() -> T:  # tenacity's first attempt is the one that already failed
        if first:
            raise first.pop()
        return attempt()

    return _retry(again, max_retries=max_retries, sleep=sleep, notify=notify)


def _retry(
    attempt: Callable[[], T],
    *,
    max_retries: int,
    sleep: Callable[[float], None],
    notify: Callable[[str], None],
) -> T:
    import tenacity

    def wait(state: tenacity.RetryCallState) -> float:
        assert state.outcome is not None
        error = state.outcome.exception()
        return backoff(state.attempt_number, error.wait if isinstance(error, Retryable) else None)

    def announce(state: tenacity.RetryCallState) -> None:
        assert state.outcome is not None and state.next_action is not None
        error = state.outcome.exception()
        cause = error.error if isinstance(error, Retryable) else error
        what = "rate limited" if isinstance(cause, RateLimitError) else f"{cause}"
        notify(
            f"{what}, retrying in {state.next_action.sleep:.1f}s "
            f"(retry {state.attempt_number} of {max_retries})"
        )

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(max_retries + 1),
        wait=wait,
        retry=tenacity.retry_if_exception_type(Retryable),
        before_sleep=announce,
        sleep=sleep,
        reraise=True,
    )
    try:
        return retrying(attempt)
    except Retryable as exc:
        if isinstance(exc.error, RateLimitError) and exc.error.hint is None:
            exc.error.hint = "still rate limited after retries: wait a minute, or slow down"
        raise exc.error from exc
