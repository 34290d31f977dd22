"""APIMW's rate limit: fixed one-minute windows per client, the X-RateLimit-* headers on every
answer, and 429 RATE_LIMIT_EXCEEDED beyond (docs/apimw-api.md, "Envelopes, errors, rate limits").
Also logs each request, as it sees them all."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from apimw_cli.sandbox.config import shows
from apimw_cli.sandbox.envelopes import Problem, error_response

UNLIMITED = 1_000_000  # what the headers say when the limit is off


class RateLimit:
    """ASGI middleware around the app."""

    def __init__(
        self,
        app: ASGIApp,
        limit: int,
        window: float,
        log: Callable[[str, dict[str, Any]], None] | None,
    ) -> None:
        self.app = app
        self.limit = limit  # 0: no limit
        self.window = window
        self.log = log if shows(log, "request") else None  # --quiet: requests are not shown
        self.windows: dict[str, tuple[float, int]] = {}  # client -> (window start, requests)

    def _client(self, scope: Scope) -> str:
        if any(name == b"authorization" for name, _ in scope.get("headers", [])):
            return "tenant"  # one tenant in the sandbox: all its tokens share the budget
        client = scope.get("client")
        return f"ip:{client[0]}" if client else "ip:?"

    def _count(self, key: str, now: float) -> tuple[float, int]:
        """Count one request of `key`; returns its window's start and requests so far."""
        window_start, count = self.windows.get(key, (now, 0))
        if now - window_start >= self.window:
            window_start, count = now, 0
        count += 1
        self.windows[key] = (window_start, count)
        return window_start, count

    def _headers(self, window_start: float, count: int) -> list[tuple[bytes, bytes]]:
        remaining = max(0, self.limit - count) if self.limit else UNLIMITED
        return [
            (b"x-ratelimit-limit", str(self.limit or UNLIMITED).encode()),
            (b"x-ratelimit-remaining", str(remaining).encode()),
            (b"x-ratelimit-reset", str(math.ceil(window_start + self.window)).encode()),
        ]

    def _refusal(self, window_start: float, now: float) -> Problem:
        retry_after = max(1, math.ceil(window_start + self.window - now))
        return Problem(
            429,
            "RATE_LIMIT_EXCEEDED",
            # The docs' wording, with the sandbox's limit added.
            f"Rate limit exceeded. Please retry after {retry_after} seconds."
            f" (more than {self.limit} requests in a minute)",
            extra={"retry_after": retry_after},
            headers={"Retry-After": str(retry_after)},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        now = time.time()
        window_start, count = self._count(self._client(scope), now)
        headers = self._headers(window_start, count)
        status_seen = 0

        async def send_with_headers(message: Message) -> None:
            nonlocal status_seen
            if message["type"] == "http.response.start":
                status_seen = message["status"]
                message = {**message, "headers": [*message.get("headers", []), *headers]}
            await send(message)

        if self.limit and count > self.limit:
            response = error_response(self._refusal(window_start, now))
            await response(scope, receive, send_with_headers)
        else:
            await self.app(scope, receive, send_with_headers)
        if self.log is not None:
            elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
            self.log(
                "request",
                {
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status_seen,
                    "ms": elapsed_ms,
                },
            )
