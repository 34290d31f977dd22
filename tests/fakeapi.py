"""A small in-memory APIMW for client tests, served through httpx.MockTransport.

It implements the auth endpoints faithfully enough to test token caching and refresh
(single-use refresh tokens, expiring access tokens) and lets a test script error answers.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

API_KEY = "ak_live_testkey0000000000000001"
API_SECRET = "sk_live_testsecret000000000000000001"
BASE = "https://api.test/v1"


def envelope(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json={"success": True, "data": data}, headers=headers)


def error(status: int, code: str, message: str = "", **extra: Any) -> httpx.Response:
    body = {"success": False, "error": {"code": code, "message": message or code.lower(), **extra}}
    return httpx.Response(status, json=body)


@dataclass
class FakeApi:
    permissions: list[str] = field(
        default_factory=lambda: ["whatsapp:send", "whatsapp:templates", "webhooks:manage"]
    )
    calls: list[tuple[str, str]] = field(default_factory=list)
    # Responses queued per "METHOD path" are served first, in order.
    scripted: dict[str, list[httpx.Response | Callable[[httpx.Request], httpx.Response]]] = field(
        default_factory=dict
    )
    valid_access: set[str] = field(default_factory=set)
    expired_access: set[str] = field(default_factory=set)
    valid_refresh: set[str] = field(default_factory=set)
    revoked: list[str] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def script(
        self, route: str, *responses: httpx.Response | Callable[..., httpx.Response]
    ) -> None:
        self.scripted.setdefault(route, []).extend(responses)

    def count(self, route: str) -> int:
        return sum(1 for call in self.calls if f"{call[0]} {call[1]}" == route)

    def issue(self) -> dict[str, Any]:
        n = next(self._ids)
        access, refresh = f"at_{n:04d}", f"rt_{n:04d}"
        self.valid_access.add(access)
        self.valid_refresh.add(refresh)
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": 3600,
            "refresh_token": refresh,
        }

    def expire(self, access: str) -> None:
        self.valid_access.discard(access)
        self.expired_access.add(access)

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/v1/")
        route = f"{request.method} {path}"
        self.calls.append((request.method, path))
        self.requests.append(request)
        queue = self.scripted.get(route)
        if queue:
            item = queue.pop(0)
            return item(request) if callable(item) else item
        body = json.loads(request.content) if request.content else {}
        if route == "POST auth/token":
            if body.get("api_key") == API_KEY and body.get("api_secret") == API_SECRET:
                return envelope(self.issue())
            return error(401, "INVALID_CREDENTIALS", "Invalid API key or secret")
        if route == "POST auth/refresh":
            token = body.get("refresh_token")
            if token in self.valid_refresh:
                self.valid_refresh.discard(token)  # single use
                return envelope(self.issue())
            return error(401, "INVALID_REFRESH_TOKEN", "Refresh token is invalid or used")
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ")
        if token in self.expired_access:
            return error(401, "EXPIRED_TOKEN", "Access token expired")
        if token not in self.valid_access:
            return error(401, "INVALID_TOKEN", "Invalid access token")
        if route == "POST auth/revoke":  # as documented: the bearer is the token revoked
            if request.content:
                return error(400, "VALIDATION_ERROR", "revoke takes no body")
            self.revoked.append(token)
            self.valid_access.discard(token)
            return envelope({"revoked": True})
        if route == "GET auth/me":
            return envelope(
                {
                    "user": {"id": "usr_1", "email": "dev@example.com", "name": "Dev Eloper"},
                    "tenant": {"id": "ten_1", "name": "Acme", "plan": "free", "status": "active"},
                    "permissions": self.permissions,
                }
            )
        return error(404, "NOT_FOUND", f"no route {route}")
