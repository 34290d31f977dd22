"""Helpers shared by the sandbox tests: envelopes, API calls, a webhook endpoint.

Everything here talks to the sandbox over real HTTP and knows it only through its contract
(apimw_cli/sandbox/SPEC.md and docs/apimw-api.md).
"""

from __future__ import annotations

import base64
import json
import ssl
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

import httpx

from apimw_cli.settings import SANDBOX_API_KEY, SANDBOX_API_SECRET
from tests.support.waiting import wait_for

VERIFICATION = "webhook.verification"
WEBHOOK_FIELDS = frozenset(
    {
        "id",
        "url",
        "events",
        "active",
        "created_at",
        "updated_at",
        "description",
        "verified",
        "verification_error",
        "failure_count",
        "disabled_reason",
        "last_delivery_at",
        "last_delivery_status",
    }
)
DELIVERY_FIELDS = frozenset(
    {
        "id",
        "event_id",
        "event_type",
        "attempt",
        "status_code",
        "error",
        "duration_ms",
        "delivered_at",
        "next_retry_at",
    }
)
# The documented retry gaps (seconds) between attempts 1-2, 2-3, 3-4, 4-5, before time_scale.
RETRY_GAPS = (60.0, 300.0, 1800.0, 7200.0)


class RunningSandboxLike(Protocol):
    """What SPEC.md promises run_in_thread yields."""

    @property
    def base_url(self) -> str: ...

    @property
    def port(self) -> int: ...


MakeSandbox = Callable[..., RunningSandboxLike]


# --------------------------------------------------------------------------- envelopes


def data_of(response: httpx.Response, status: int = 200) -> Any:
    """The `data` of a success envelope, checking the status code."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    body = response.json()
    assert body["success"] is True, body
    return body["data"]


def error_of(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The `error` of an error envelope, checking status, code and the envelope's shape."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers.get("content-type", "").startswith("application/json"), (
        response.headers.get("content-type")
    )
    body = response.json()
    assert body["success"] is False, body
    error = body["error"]
    assert isinstance(error, dict), body
    assert error["code"] == code, body
    assert isinstance(error["message"], str) and error["message"], body
    return error


def assert_names_field(error: dict[str, Any], name: str) -> None:
    """SPEC: VALIDATION_ERROR messages start with the field name ("url: ...")."""
    message = error["message"]
    assert isinstance(message, str)
    assert message.startswith(name), f"message should start with {name!r}: {message!r}"


def parse_time(value: object) -> datetime:
    assert isinstance(value, str), value
    return datetime.fromisoformat(value)


def jwt_part(token: str, index: int) -> dict[str, Any]:
    part = token.split(".")[index]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


# --------------------------------------------------------------------------- API helpers

# Everything here is plain http on loopback; one shared context saves httpx ~60 ms per client.
TLS = ssl.create_default_context()


def token_pair(base_url: str) -> dict[str, Any]:
    with httpx.Client(base_url=base_url, timeout=10.0, verify=TLS) as client:
        response = client.post(
            "auth/token", json={"api_key": SANDBOX_API_KEY, "api_secret": SANDBOX_API_SECRET}
        )
        pair: dict[str, Any] = data_of(response)
        return pair


def client(base_url: str, token: str | None = None, timeout: float = 10.0) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=base_url, headers=headers, timeout=timeout, verify=TLS)


def create_webhook(
    api: httpx.Client, url: str, events: list[str] | None = None, **fields: Any
) -> dict[str, Any]:
    body = {"url": url, "events": events or ["message.sent"], **fields}
    created: dict[str, Any] = data_of(api.post("webhooks", json=body), 201)
    return created


def get_webhook(api: httpx.Client, webhook_id: str) -> dict[str, Any]:
    webhook: dict[str, Any] = data_of(api.get(f"webhooks/{webhook_id}"))
    return webhook


def wait_verified(api: httpx.Client, webhook_id: str, timeout: float = 10.0) -> dict[str, Any]:
    """The webhook once its verification is no longer pending (`verified` not null)."""

    def done() -> dict[str, Any] | None:
        webhook = get_webhook(api, webhook_id)
        return webhook if webhook["verified"] is not None else None

    return wait_for(done, timeout, f"verification of {webhook_id}", interval=0.02)


def deliveries_of(api: httpx.Client, webhook_id: str) -> list[dict[str, Any]]:
    """The first page of a webhook's attempts (newest first)."""
    attempts: list[dict[str, Any]] = data_of(api.get(f"webhooks/{webhook_id}/deliveries"))[
        "deliveries"
    ]
    return attempts


def webhooks_of(api: httpx.Client) -> list[dict[str, Any]]:
    """The first page of webhooks (the sandbox's default page size is 20)."""
    webhooks: list[dict[str, Any]] = data_of(api.get("webhooks"))["webhooks"]
    return webhooks


def emit(api: httpx.Client, event_type: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"type": event_type}
    if data is not None:
        body["data"] = data
    answer: dict[str, Any] = data_of(api.post("sandbox/events", json=body))
    return answer


MakeApi = Callable[[RunningSandboxLike], httpx.Client]
