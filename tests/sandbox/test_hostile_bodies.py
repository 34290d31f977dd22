"""Malformed and hostile requests get a 4xx in the documented error envelope, never a 500: deep
nesting, huge numbers, NaN/Infinity, lone surrogates in any string field, oversized and
non-object bodies, Unicode digits in query numbers. Each is named in the message."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from apimw_cli.sandbox.envelopes import Problem
from apimw_cli.sandbox.jsonbody import MAX_DEPTH, parse_object
from tests.sandbox.inprocess import TestClient, asgi_sandbox

JSON = {"Content-Type": "application/json"}
PHONE = "+14155550123"
# Every string field of every body, with a valid body around it.
STRING_FIELDS = [
    ("/v1/auth/token", {"api_key": "k", "api_secret": "s"}, "api_key"),
    ("/v1/auth/token", {"api_key": "k", "api_secret": "s"}, "api_secret"),
    ("/v1/auth/refresh", {"refresh_token": "rt_x"}, "refresh_token"),
    ("/v1/auth/revoke", {"token": "rt_x"}, "token"),
    ("/v1/webhooks", {"url": "https://e.test/", "events": ["message.sent"]}, "url"),
    ("/v1/webhooks", {"url": "https://e.test/", "events": ["message.sent"]}, "description"),
    ("/v1/webhooks", {"url": "https://e.test/", "events": ["message.sent"]}, "secret"),
    ("/v1/whatsapp/messages/send", {"to": PHONE, "message": "hi"}, "message"),
    ("/v1/whatsapp/messages/send", {"to": PHONE, "message": "hi"}, "to"),
    ("/v1/whatsapp/messages/template", {"to": PHONE, "language": "en"}, "template"),
    ("/v1/whatsapp/messages/template", {"to": PHONE, "template": "hello_world"}, "language"),
    ("/v1/sandbox/inbound", {"from": PHONE, "text": "hi"}, "text"),
    ("/v1/sandbox/inbound", {"from": PHONE, "text": "hi"}, "name"),
    ("/v1/sandbox/events", {"type": "message.received"}, "type"),
]
SURROGATES = ["\ud800", "a\udfffb", "\udc00\ud800", "x" * 100 + "\udbff"]


@pytest.fixture(scope="module")
def api() -> Iterator[TestClient]:
    with asgi_sandbox() as client:
        yield client


def refused(answer: Any, status: int = 400, field: str | None = None) -> str:
    """The error message of a `status` answer in the documented envelope."""
    assert answer.status_code == status, (answer.status_code, answer.text[:300])
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert body["success"] is False, body
    assert isinstance(body["error"]["code"], str) and body["error"]["code"], body
    message: str = body["error"]["message"]
    if field is not None:
        assert message.startswith(f"{field}: "), message
    return message


def post_raw(api: TestClient, path: str, text: str | bytes) -> Any:
    return api.post(path, content=text, headers=JSON)


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1000, 1100, 100_000])
@pytest.mark.parametrize("kind", ["array", "object"])
def test_deep_nesting_is_refused_before_parsing(api: TestClient, depth: int, kind: str) -> None:
    if kind == "array":
        data = "[" * depth + "1" + "]" * depth
    else:
        data = '{"a":' * depth + "1" + "}" * depth
    body = '{"type": "quota.warning", "data": ' + data + "}"
    assert "nested" in refused(post_raw(api, "/v1/sandbox/events", body), field="body")


def test_deep_nesting_as_the_whole_body(api: TestClient) -> None:
    refused(post_raw(api, "/v1/webhooks", "[" * 5000 + "]" * 5000), field="body")


def test_nesting_within_the_limit_is_taken(api: TestClient) -> None:
    data = '{"a":' * (MAX_DEPTH - 2) + "1" + "}" * (MAX_DEPTH - 2)
    answer = post_raw(api, "/v1/sandbox/events", '{"type": "quota.warning", "data": ' + data + "}")
    assert answer.status_code == 200, answer.text


def test_brackets_inside_strings_are_not_nesting() -> None:
    text = json.dumps({"text": "[" * 10_000 + '\\"{' * 1000, "n": ["]" * 50]})
    assert parse_object(text)["text"].startswith("[[[")


def test_a_depth_scan_of_an_unterminated_string_is_linear() -> None:
    # `"\"\"\"...` never closes: a backtracking string pattern would take quadratic time here.
    with pytest.raises(Problem):
        parse_object('{"a": [[[[' + '"\\"' * 200_000)


@pytest.mark.parametrize("digits", [101, 4301, 5000, 100_000])
def test_huge_integers_are_refused(api: TestClient, digits: int) -> None:
    body = '{"to": "' + PHONE + '", "message": "hi", "preview_url": ' + "9" * digits + "}"
    assert "digits" in refused(post_raw(api, "/v1/whatsapp/messages/send", body), field="body")


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400", "-1e999"])
def test_non_finite_numbers_are_refused(api: TestClient, literal: str) -> None:
    body = '{"type": "quota.warning", "data": {"used": ' + literal + "}}"
    refused(post_raw(api, "/v1/sandbox/events", body), field="body")


@pytest.mark.parametrize("surrogate", SURROGATES, ids=range(len(SURROGATES)))
@pytest.mark.parametrize(
    ("path", "body", "field"), STRING_FIELDS, ids=[f"{p}:{f}" for p, _, f in STRING_FIELDS]
)
def test_lone_surrogates_in_any_string_field_are_refused(
    api: TestClient, path: str, body: dict[str, Any], field: str, surrogate: str
) -> None:
    text = json.dumps({**body, field: surrogate})  # ASCII escapes: "\ud800"
    message = refused(post_raw(api, path, text), field=field)
    assert "surrogate" in message


def test_lone_surrogates_deep_in_data_are_refused(api: TestClient) -> None:
    text = json.dumps({"type": "message.received", "data": {"contact": {"name": "\ud800"}}})
    refused(post_raw(api, "/v1/sandbox/events", text), field="data")


def test_lone_surrogate_in_a_field_name_is_refused(api: TestClient) -> None:
    refused(post_raw(api, "/v1/webhooks", '{"\\ud800": 1}'), field="body")


def test_surrogate_pairs_are_text(api: TestClient) -> None:
    text = json.dumps({"to": PHONE, "message": "\U0001f600 ok"})  # "\ud83d\ude00": one emoji
    answer = post_raw(api, "/v1/whatsapp/messages/send", text)
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("text", ["[]", '"text"', "1", "null", "true", "[{}]"])
def test_non_object_json_is_refused(api: TestClient, text: str) -> None:
    refused(post_raw(api, "/v1/webhooks", text), field="body")


@pytest.mark.parametrize("raw", [b"\xff\xfe{}", b'{"a": "\xed\xa0\x80"}', b"{", b"{'a': 1}"])
def test_bytes_that_are_not_json_are_refused(api: TestClient, raw: bytes) -> None:
    refused(post_raw(api, "/v1/webhooks", raw), field="body")


def test_oversized_body_is_refused() -> None:
    with asgi_sandbox(max_body=1000) as small:
        refused(
            post_raw(small, "/v1/webhooks", '{"description": "' + "x" * 2000 + '"}'), field="body"
        )


@pytest.mark.parametrize("declared", ["\u00b2", "9" * 30, "-1", "1e9", " 5"])
def test_odd_content_length_headers_are_no_crash(api: TestClient, declared: str) -> None:
    # The client sends the real length; the app reads the header as given here.
    answer = api.post(
        "/v1/webhooks",
        content=b"{}",
        headers={b"Content-Type": b"application/json", b"Content-Length": declared.encode()},
    )
    assert 400 <= answer.status_code < 500, answer.text


QUERIES = [
    ("/v1/webhooks", "page", "\u00b2"),
    ("/v1/webhooks", "per_page", "\u00b2"),
    ("/v1/webhooks", "page", "\u0661"),
    ("/v1/webhooks", "per_page", "\uff11"),
    ("/v1/webhooks", "page", "9" * 5000),
    ("/v1/whatsapp/templates", "page", "\u00b2"),
    ("/v1/whatsapp/templates", "per_page", "\u00b3"),
    ("/v1/whatsapp/templates", "status", "\ud800"),
]


@pytest.mark.parametrize(("path", "name", "value"), QUERIES)
def test_query_numbers_are_ascii_digits(api: TestClient, path: str, name: str, value: str) -> None:
    answer = api.get(
        path, params={name: value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")}
    )
    refused(answer, field=name)


@pytest.mark.parametrize("name", ["limit", "page", "per_page"])
def test_deliveries_query_numbers_are_ascii_digits(api: TestClient, name: str) -> None:
    created = api.post(
        "/v1/webhooks",
        json={"url": "http://127.0.0.1:1/x", "events": ["message.sent"], "active": False},
    ).json()["data"]
    answer = api.get(f"/v1/webhooks/{created['id']}/deliveries", params={name: "\u00b2"})
    refused(answer, field=name)
