"""The sandbox answers in the shapes of APIMW's documented examples
(tests/support/docs_examples.py), field by field: names, JSON types, id prefixes, timestamp
format, envelopes, and the rate-limit headers. Values are not compared: the sandbox's ids and
times are its own."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from apimw_cli.settings import SANDBOX_API_KEY, SANDBOX_API_SECRET
from tests.sandbox.shapes import TIMESTAMP, assert_shape, shape_problems
from tests.sandbox.support import (
    MakeApi,
    MakeSandbox,
    RunningSandboxLike,
    data_of,
    token_pair,
)
from tests.support import docs_examples as docs
from tests.support.endpoint import Endpoint
from tests.support.waiting import wait_for

CREDENTIALS = {"api_key": SANDBOX_API_KEY, "api_secret": SANDBOX_API_SECRET}
TO = docs.MESSAGE_SEND["data"]["to"]
# What the sandbox's webhook object adds to the documented five fields (docs/apimw-api.md,
# "Webhooks": our contract).
WEBHOOK_EXTRAS = frozenset(
    f"data.{key}"
    for key in (
        "updated_at",
        "description",
        "verified",
        "verification_error",
        "failure_count",
        "disabled_reason",
        "last_delivery_at",
        "last_delivery_status",
        "has_secret",
    )
)


@pytest.fixture
def running_sandbox(module_sandbox: RunningSandboxLike) -> RunningSandboxLike:
    """Each test looks only at what it made: one sandbox serves the module."""
    return module_sandbox


# --------------------------------------------------------------------------- auth


def test_token_is_the_documented_shape(anon: httpx.Client) -> None:
    response = anon.post("auth/token", json=CREDENTIALS)
    assert response.status_code == 200
    body = assert_shape(response, docs.AUTH_TOKEN)
    assert body["data"]["token_type"] == "Bearer"  # "Always Bearer"


def test_wrong_credentials_are_the_documented_error(anon: httpx.Client) -> None:
    wrong = {**docs.AUTH_TOKEN_REQUEST, "api_key": SANDBOX_API_KEY}  # the docs' secret: wrong
    response = anon.post("auth/token", json=wrong)
    assert response.status_code == 401
    body = assert_shape(response, docs.INVALID_CREDENTIALS)
    assert body["error"]["code"] == "INVALID_CREDENTIALS"


def test_refresh_is_the_documented_shape(
    running_sandbox: RunningSandboxLike, anon: httpx.Client
) -> None:
    refresh = token_pair(running_sandbox.base_url)["refresh_token"]
    response = anon.post("auth/refresh", json={"refresh_token": refresh})
    assert response.status_code == 200
    assert_shape(response, docs.AUTH_REFRESH)
    again = anon.post("auth/refresh", json={"refresh_token": refresh})
    assert again.status_code == 401
    assert assert_shape(again, docs.INVALID_REFRESH_TOKEN)["error"]["code"] == (
        "INVALID_REFRESH_TOKEN"
    )


def test_me_is_the_documented_shape_with_the_documented_permissions(
    sandbox_api: httpx.Client,
) -> None:
    response = sandbox_api.get("auth/me")
    assert response.status_code == 200
    body = assert_shape(response, docs.AUTH_ME)
    assert body["data"]["permissions"] == docs.AUTH_ME["data"]["permissions"]


# --------------------------------------------------------------------------- webhooks


def test_webhook_create_and_its_challenge_are_the_documented_shapes(
    sandbox_api: httpx.Client, endpoint: Endpoint
) -> None:
    request = {**docs.WEBHOOK_CREATE_REQUEST, "url": endpoint.url}
    response = sandbox_api.post("webhooks", json=request)
    assert response.status_code == 201
    assert_shape(response, docs.WEBHOOK_CREATE, extra=WEBHOOK_EXTRAS)
    (challenge,) = endpoint.wait_verifications(1)
    problems = shape_problems(challenge.json(), docs.VERIFICATION)
    assert not problems, problems


# --------------------------------------------------------------------------- messages


def _open_window(api: httpx.Client, number: str) -> None:
    """The customer writes first: a text is inside the 24-hour window whatever the sandbox's
    window setting."""
    data_of(api.post("sandbox/inbound", json={"from": number, "text": "Hi"}))


def test_send_and_status_are_the_documented_shapes(sandbox_api: httpx.Client) -> None:
    _open_window(sandbox_api, TO)
    response = sandbox_api.post("whatsapp/messages/send", json=docs.MESSAGE_SEND_REQUEST)
    assert response.status_code == 200
    sent = assert_shape(response, docs.MESSAGE_SEND)["data"]
    assert sent["status"] == "sent"
    path = f"whatsapp/messages/{sent['message_id']}"
    first = assert_shape(sandbox_api.get(path), docs.MESSAGE_STATUS)["data"]
    assert first["status"] in docs.MESSAGE_STATUSES

    def read() -> Any:
        status = sandbox_api.get(path)
        return status if status.json()["data"]["status"] == "read" else None

    final = assert_shape(wait_for(read, 10.0, "status read"), docs.MESSAGE_STATUS)["data"]
    assert all(
        TIMESTAMP.fullmatch(final["timestamps"][key]) for key in ("sent", "delivered", "read")
    )


def test_a_bad_number_is_the_documented_error(sandbox_api: httpx.Client) -> None:
    response = sandbox_api.post(
        "whatsapp/messages/send", json={**docs.MESSAGE_SEND_REQUEST, "to": "1234567890"}
    )
    assert response.status_code == 400
    body = assert_shape(response, docs.INVALID_PHONE_NUMBER)
    assert body["error"]["code"] == "INVALID_PHONE_NUMBER"


# --------------------------------------------------------------------------- rate limits


def test_rate_limit_headers_are_integers_and_reset_is_a_unix_time(
    sandbox_api: httpx.Client,
) -> None:
    before = int(time.time())
    response = sandbox_api.get("auth/me")
    for name in docs.RATE_LIMIT_HEADERS:
        value = response.headers.get(name)
        assert value is not None and value.isascii() and value.isdigit(), (name, value)
    reset = int(response.headers["X-RateLimit-Reset"])
    # A unix time in seconds, at the end of the current one-minute window (not milliseconds,
    # not seconds-from-now).
    assert before <= reset <= before + 24 * 3600, reset


def test_over_the_limit_is_the_documented_error_with_retry_after(
    make_sandbox: MakeSandbox, make_sandbox_api: MakeApi
) -> None:
    running = make_sandbox(rate_limit=2)
    api = make_sandbox_api(running)  # the token request counts for its address, not the tenant
    for _ in range(2):
        assert api.get("auth/me").status_code == 200
    response = api.get("auth/me")
    assert response.status_code == 429
    body = assert_shape(response, docs.RATE_LIMIT_EXCEEDED)
    assert body["error"]["code"] == "RATE_LIMIT_EXCEEDED"
    assert body["error"]["retry_after"] >= 1
    for name in docs.RATE_LIMIT_HEADERS:
        assert response.headers[name].isdigit(), name
    assert response.headers["X-RateLimit-Remaining"] == "0"


# --------------------------------------------------------------------------- the comparison


@pytest.mark.parametrize(
    ("actual", "problem"),
    [
        ({"created_at": "2024-01-15T10:30:00.123Z"}, "not a timestamp"),
        ({"created_at": "2024-01-15T10:30:00+00:00"}, "not a timestamp"),
        ({"id": "hook_1", "created_at": "2024-01-15T10:30:00Z"}, "does not start with 'whk_'"),
        ({"id": "whk_1", "created_at": 1705314600}, "integer"),
        ({"id": "whk_1"}, "created_at: missing"),
        ({"id": "whk_1", "created_at": "2024-01-15T10:30:00Z", "x": 1}, "x: not in the docs"),
    ],
)
def test_the_comparison_catches_what_it_should(actual: dict[str, Any], problem: str) -> None:
    example = {"id": "whk_abc123xyz", "created_at": "2024-01-15T10:30:00Z"}
    problems = shape_problems(actual, example)
    assert any(problem in p for p in problems), problems


def test_the_comparison_tells_booleans_from_numbers_and_checks_list_items() -> None:
    assert shape_problems({"expires_in": True}, {"expires_in": 3600})
    assert shape_problems({"to": "1234567890"}, {"to": "+1234567890"})
    assert shape_problems([{"a": 1}, {"b": 1}], [{"a": 0}])
    assert not shape_problems({"read": None}, {"read": None})
    assert shape_problems({"read": "soon"}, {"read": None})
    assert not shape_problems({"timestamps": {"sent": None}}, {"timestamps": {"sent": "x"}})
    assert shape_problems({"sent_at": None}, {"sent_at": "2024-01-15T10:30:00Z"})
    assert not shape_problems({"data": {"more": 1}}, {"data": {}}, extra={"data.more"})
    components = [{"type": "HEADER", "format": "TEXT"}, {"type": "BODY", "text": "x"}]
    assert not shape_problems([{"type": "BODY", "text": "y"}], components)
    assert shape_problems([{"type": "BODY", "format": "TEXT"}], components)
    assert shape_problems([{"type": "BUTTONS"}], components)
