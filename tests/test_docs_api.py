"""The CLI against a fake APIMW that answers only as the docs show (tests/support/docs_api.py):
login, whoami, webhooks register/list/inspect (45 webhooks, pages of 20), messages
send/status. Each runs against the lenient fake and the strict one (unknown fields: 400)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from apimw_cli.commands.common import AppState
from apimw_cli.main import app
from tests.support.docs_api import (
    ACCESS_TOKEN,
    API_KEY,
    API_SECRET,
    MESSAGE_ID,
    SEEDED,
    DocsApi,
    seeded_webhooks,
)


def run(
    *args: str, transport: Any, input: str | None = None, env: dict[str, str] | None = None
) -> Result:
    """tests.support.cli.run, with the docs fake's transport instead of a FakeApi."""
    obj = AppState(transport=transport)
    return CliRunner().invoke(
        app, list(args), input=input, obj=obj, env=env, catch_exceptions=False
    )


@pytest.fixture(params=[False, True], ids=["lenient", "strict"])
def docs(request: pytest.FixtureRequest) -> DocsApi:
    return DocsApi(strict=request.param)


def cli(docs: DocsApi, *args: str, input: str | None = None) -> Any:
    """`apimw -o json ARGS` against the fake, logged in with the docs' credentials."""
    env = {"APIMW_API_KEY": API_KEY, "APIMW_API_SECRET": API_SECRET}
    result = run("-o", "json", *args, input=input, env=env, transport=docs.transport())
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_login_and_whoami(docs: DocsApi) -> None:
    login = run(
        "login",
        "--api-key",
        API_KEY,
        "--api-secret-stdin",
        input=API_SECRET,
        transport=docs.transport(),
    )
    assert login.exit_code == 0, login.stderr
    assert "lacks" not in login.stderr  # the docs' permission names are understood
    result = run("-o", "json", "whoami", transport=docs.transport())
    assert result.exit_code == 0, result.stderr
    me = json.loads(result.stdout)
    assert me["permissions"] == ["whatsapp:send", "whatsapp:templates", "webhooks:manage"]
    assert "developer@example.com" in json.dumps(me)
    sent = [r for r in docs.requests if r.url.path == "/v1/auth/me"]
    assert sent and all(r.headers["Authorization"] == f"Bearer {ACCESS_TOKEN}" for r in sent)


def test_a_wrong_secret_is_refused_in_the_docs_words(docs: DocsApi) -> None:
    result = run(
        "login",
        "--api-key",
        API_KEY,
        "--api-secret-stdin",
        input="nope",
        transport=docs.transport(),
    )
    assert result.exit_code != 0
    assert "INVALID_CREDENTIALS" in result.stderr


def test_register_sends_only_documented_fields(docs: DocsApi) -> None:
    url = "https://yourapp.com/webhooks/apimw"
    data = cli(docs, "webhooks", "register", "--url", url, "--events", "message.sent")
    assert data["id"].startswith("whk_") and data["url"] == url
    [body] = docs.bodies("POST", "webhooks")
    assert set(body) <= {"url", "events", "secret", "active"}
    assert body["url"] == url and body["events"] == ["message.sent"] and body["secret"]


def test_list_shows_all_45_webhooks_across_three_pages(docs: DocsApi) -> None:
    listed = cli(docs, "webhooks", "list")
    assert [w["id"] for w in listed] == [w["id"] for w in seeded_webhooks()]
    pages = [r for r in docs.requests if r.url.path == "/v1/webhooks" and r.method == "GET"]
    assert len(pages) == 3  # 20 + 20 + 5: the short third page ends it


def test_list_includes_a_webhook_registered_after_the_seed(docs: DocsApi) -> None:
    url = "https://yourapp.com/hooks/new"
    created = cli(docs, "webhooks", "register", "--url", url, "--events", "message.read")
    listed = cli(docs, "webhooks", "list")
    assert len(listed) == SEEDED + 1 and listed[-1]["id"] == created["id"]


@pytest.mark.parametrize(
    "ref", ["whk_docs044xyz", "whk_docs044", "https://yourapp.com/webhooks/apimw/44"]
)
def test_inspect_finds_a_webhook_on_page_3_by_id_prefix_or_url(docs: DocsApi, ref: str) -> None:
    data = cli(docs, "webhooks", "inspect", ref)
    assert data["id"] == "whk_docs044xyz"
    assert data["url"] == "https://yourapp.com/webhooks/apimw/44"


def test_inspect_of_a_missing_webhook_reads_every_page_then_says_not_found(docs: DocsApi) -> None:
    env = {"APIMW_API_KEY": API_KEY, "APIMW_API_SECRET": API_SECRET}
    result = run("webhooks", "inspect", "whk_nothere", env=env, transport=docs.transport())
    assert result.exit_code == 4
    assert "NOT_FOUND" in result.stderr
    pages = [r for r in docs.requests if r.url.path == "/v1/webhooks" and r.method == "GET"]
    assert len(pages) == 3


def test_messages_send_and_status(docs: DocsApi) -> None:
    sent = cli(docs, "messages", "send", "--to", "+1234567890", "--text", "Hello")
    assert sent["message_id"] == MESSAGE_ID and sent["status"] == "sent"
    [body] = docs.bodies("POST", "whatsapp/messages/send")
    assert set(body) <= {"to", "message", "preview_url"}
    status = cli(docs, "messages", "status", MESSAGE_ID)
    assert status["status"] == "delivered"
    assert status["timestamps"]["delivered"] == "2024-01-15T10:30:05Z"


def test_an_invalid_number_gets_the_docs_error(docs: DocsApi) -> None:
    env = {"APIMW_API_KEY": API_KEY, "APIMW_API_SECRET": API_SECRET}
    result = run(
        "messages", "send", "--to", "+0", "--text", "x", env=env, transport=docs.transport()
    )
    assert result.exit_code != 0
    assert "INVALID_PHONE_NUMBER" in result.stderr or "E.164" in result.stderr


def test_the_strict_fake_rejects_unknown_fields_and_the_lenient_drops_them() -> None:
    for strict, expected in ((True, 400), (False, 201)):
        docs = DocsApi(strict=strict)
        with docs.serve() as base:
            token = httpx.post(
                f"{base}/auth/token", json={"api_key": API_KEY, "api_secret": API_SECRET}
            ).json()["data"]["access_token"]
            answer = httpx.post(
                f"{base}/webhooks",
                json={"url": "https://a.example/h", "events": ["message.sent"], "x": 1},
                headers={"Authorization": f"Bearer {token}"},
            )
        assert answer.status_code == expected
        assert answer.headers["X-RateLimit-Limit"] == "1000"
        if strict:
            assert answer.json()["error"]["code"] == "VALIDATION_ERROR"
        else:
            assert set(answer.json()["data"]) == {"id", "url", "events", "active", "created_at"}
