"""Webhook CRUD over HTTP: shapes, the secret never echoed, and every validation error."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from apimw_cli.catalog import EVENT_NAMES
from tests.sandbox.support import (
    WEBHOOK_FIELDS,
    MakeApi,
    MakeSandbox,
    RunningSandboxLike,
    assert_names_field,
    create_webhook,
    data_of,
    error_of,
    get_webhook,
    parse_time,
    wait_verified,
    webhooks_of,
)
from tests.support.sandbox import MakeEndpoint

SECRET = "whsec_never_echo_this_1234567890"
# https is always allowed; port 1 on loopback refuses at once, so verification fails fast.
HTTPS_URL = "https://127.0.0.1:1/hook"


@pytest.fixture
def running_sandbox(module_sandbox: RunningSandboxLike) -> RunningSandboxLike:
    """Tests look only at their own webhooks; those needing an empty store use make_sandbox."""
    return module_sandbox


def _valid(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"url": HTTPS_URL, "events": ["message.sent"]}
    body.update(changes)
    return body


def test_create_answers_201_with_webhook_object(sandbox_api: httpx.Client) -> None:
    response = sandbox_api.post(
        "webhooks",
        json=_valid(events=["message.sent", "message.read"], description="orders"),
    )
    data = data_of(response, 201)
    assert set(data) >= WEBHOOK_FIELDS  # extra fields are tolerated (apimw-api.md)
    assert data["id"].startswith("whk_")
    assert data["url"] == HTTPS_URL
    assert data["events"] == ["message.sent", "message.read"]
    assert data["active"] is True
    assert data["description"] == "orders"
    assert data["verified"] in (None, False)  # pending, or already failed (port 1 refuses)
    assert data["failure_count"] == 0
    assert data["disabled_reason"] is None
    assert data["last_delivery_at"] is None
    assert data["last_delivery_status"] is None
    parse_time(data["created_at"])
    parse_time(data["updated_at"])


def test_create_with_active_false_is_stored_inactive(sandbox_api: httpx.Client) -> None:
    created = create_webhook(sandbox_api, HTTPS_URL, active=False)
    assert created["active"] is False
    assert get_webhook(sandbox_api, created["id"])["active"] is False


def test_create_accepts_every_catalog_event(sandbox_api: httpx.Client) -> None:
    created = create_webhook(sandbox_api, HTTPS_URL, list(EVENT_NAMES))
    assert sorted(created["events"]) == sorted(EVENT_NAMES)


def test_secret_is_never_echoed(sandbox_api: httpx.Client) -> None:
    response = sandbox_api.post("webhooks", json=_valid(secret=SECRET))
    created = data_of(response, 201)
    patched = sandbox_api.patch(f"webhooks/{created['id']}", json={"secret": SECRET + "_2"})
    responses = [
        response,
        patched,
        sandbox_api.get("webhooks"),
        sandbox_api.get(f"webhooks/{created['id']}"),
    ]
    for one in responses:
        assert one.status_code in (200, 201), one.text
        assert SECRET not in one.text
        assert '"secret"' not in one.text


def test_list_returns_all_webhooks(make_sandbox: MakeSandbox, make_sandbox_api: MakeApi) -> None:
    sandbox_api = make_sandbox_api(make_sandbox())
    assert webhooks_of(sandbox_api) == []
    first = create_webhook(sandbox_api, HTTPS_URL)
    second = create_webhook(sandbox_api, "https://localhost:1/other", ["message.read"])
    listed = webhooks_of(sandbox_api)
    assert isinstance(listed, list)
    assert {w["id"] for w in listed} == {first["id"], second["id"]}
    for webhook in listed:
        assert set(webhook) >= WEBHOOK_FIELDS


def test_get_returns_the_webhook(sandbox_api: httpx.Client) -> None:
    created = create_webhook(sandbox_api, HTTPS_URL, description="x")
    fetched = get_webhook(sandbox_api, created["id"])
    for key in ("id", "url", "events", "active", "created_at", "description"):
        assert fetched[key] == created[key]


def test_get_unknown_webhook_is_404(sandbox_api: httpx.Client) -> None:
    error_of(sandbox_api.get("webhooks/whk_doesnotexist"), 404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("url", "https://localhost:1/new"),
        ("events", ["message.read", "quota.warning"]),
        ("active", False),
        ("description", "renamed"),
    ],
)
def test_patch_changes_one_field(sandbox_api: httpx.Client, field: str, value: Any) -> None:
    created = create_webhook(sandbox_api, HTTPS_URL, description="before")
    patched = data_of(sandbox_api.patch(f"webhooks/{created['id']}", json={field: value}))
    assert patched[field] == value
    fetched = get_webhook(sandbox_api, created["id"])
    assert fetched[field] == value
    for other in ("url", "events", "active", "description"):
        if other != field:
            assert fetched[other] == created[other], other
    assert parse_time(fetched["updated_at"]) >= parse_time(created["updated_at"])


def test_patch_secret_is_accepted_and_not_echoed(sandbox_api: httpx.Client) -> None:
    created = create_webhook(sandbox_api, HTTPS_URL)
    response = sandbox_api.patch(f"webhooks/{created['id']}", json={"secret": SECRET})
    data = data_of(response)
    assert "secret" not in data and SECRET not in response.text


def test_patch_unknown_webhook_is_404(sandbox_api: httpx.Client) -> None:
    error_of(sandbox_api.patch("webhooks/whk_nope", json={"active": False}), 404, "NOT_FOUND")


def test_delete_answers_deleted_then_404(sandbox_api: httpx.Client) -> None:
    created = create_webhook(sandbox_api, HTTPS_URL)
    gone = data_of(sandbox_api.delete(f"webhooks/{created['id']}"))
    assert gone == {"id": created["id"], "deleted": True}
    error_of(sandbox_api.get(f"webhooks/{created['id']}"), 404, "NOT_FOUND")
    error_of(sandbox_api.delete(f"webhooks/{created['id']}"), 404, "NOT_FOUND")
    error_of(sandbox_api.get(f"webhooks/{created['id']}/deliveries"), 404, "NOT_FOUND")
    assert created["id"] not in {w["id"] for w in webhooks_of(sandbox_api)}


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:{port}/hook",
        "http://127.0.0.1:{port}/hook",
        "http://[::1]:{port}/hook",
    ],
)
def test_http_allowed_on_loopback(
    sandbox_api: httpx.Client, make_endpoint: MakeEndpoint, url: str
) -> None:
    port = make_endpoint().port
    created = create_webhook(sandbox_api, url.format(port=port))
    assert created["url"] == url.format(port=port)


def test_verification_result_is_visible_on_get(
    sandbox_api: httpx.Client, make_endpoint: MakeEndpoint
) -> None:
    created = create_webhook(sandbox_api, make_endpoint().url)
    assert wait_verified(sandbox_api, created["id"])["verified"] is True


# (body, the field the error must name). Each is sent as POST /webhooks.
INVALID_CREATES: list[tuple[dict[str, Any], str]] = [
    (_valid(url="http://example.com/hook"), "url"),
    (_valid(url="http://10.0.0.1/hook"), "url"),
    (_valid(url="ftp://example.com/hook"), "url"),
    (_valid(url="not a url"), "url"),
    (_valid(url=""), "url"),
    (_valid(url=123), "url"),
    (_valid(url=None), "url"),
    ({"events": ["message.sent"]}, "url"),
    (_valid(events=["message.sent", "message.bogus"]), "events"),
    (_valid(events=[]), "events"),
    (_valid(events="message.sent"), "events"),
    (_valid(events=[1]), "events"),
    ({"url": HTTPS_URL}, "events"),
    (_valid(active="yes"), "active"),
    (_valid(active=1), "active"),
    (_valid(secret=123), "secret"),
    (_valid(description=["x"]), "description"),
    (_valid(colour="blue"), "colour"),
]


@pytest.mark.parametrize(
    ("body", "field"),
    INVALID_CREATES,
    ids=[f"{field}-{i}" for i, (_, field) in enumerate(INVALID_CREATES)],
)
def test_invalid_create_is_validation_error_naming_field(
    sandbox_api: httpx.Client, body: dict[str, Any], field: str
) -> None:
    error = error_of(sandbox_api.post("webhooks", json=body), 400, "VALIDATION_ERROR")
    assert_names_field(error, field)


@pytest.mark.parametrize(
    "raw",
    [b'{"url": ', b"not json", b"", b"[1, 2]", b'"a string"', b"null"],
    ids=["truncated", "garbage", "empty", "array", "string", "null"],
)
def test_malformed_or_non_object_json_is_validation_error(
    sandbox_api: httpx.Client, raw: bytes
) -> None:
    response = sandbox_api.post(
        "webhooks", content=raw, headers={"Content-Type": "application/json"}
    )
    error_of(response, 400, "VALIDATION_ERROR")


def test_body_over_max_body_is_validation_error(sandbox_api: httpx.Client) -> None:
    body = json.dumps(_valid(description="x" * 1_100_000)).encode()
    response = sandbox_api.post(
        "webhooks", content=body, headers={"Content-Type": "application/json"}
    )
    error_of(response, 400, "VALIDATION_ERROR")


def test_nothing_invalid_is_stored(make_sandbox: MakeSandbox, make_sandbox_api: MakeApi) -> None:
    sandbox_api = make_sandbox_api(make_sandbox())
    for body, _ in INVALID_CREATES:
        assert sandbox_api.post("webhooks", json=body).status_code == 400
    sandbox_api.post("webhooks", content=b"{", headers={"Content-Type": "application/json"})
    assert webhooks_of(sandbox_api) == []


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"url": "http://example.com/x"}, "url"),
        ({"events": []}, "events"),
        ({"events": ["nope"]}, "events"),
        ({"active": "true"}, "active"),
        ({"secret": 5}, "secret"),
        ({"id": "whk_other"}, "id"),
    ],
)
def test_invalid_patch_is_rejected_and_changes_nothing(
    sandbox_api: httpx.Client, patch: dict[str, Any], field: str
) -> None:
    created = create_webhook(sandbox_api, HTTPS_URL)
    before = get_webhook(sandbox_api, created["id"])
    error = error_of(
        sandbox_api.patch(f"webhooks/{created['id']}", json=patch), 400, "VALIDATION_ERROR"
    )
    assert_names_field(error, field)
    after = get_webhook(sandbox_api, created["id"])
    for key in ("url", "events", "active", "description", "updated_at"):
        assert after[key] == before[key], key
