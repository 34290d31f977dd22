"""Fuzzing every sandbox endpoint: whatever the JSON body (deep, huge numbers, NaN, lone
surrogates, wrong types, not JSON at all), the query string and the bearer token, the answer is
never a 500 and always the documented envelope (`success`, and `error.code`/`error.message` on
a 4xx), with the rate-limit headers.

The app runs in this process (tests/sandbox/inprocess.py): a request costs about a
millisecond, and an exception escaping the app fails the test with its traceback.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apimw_cli.settings import SANDBOX_API_KEY, SANDBOX_API_SECRET
from tests.sandbox.inprocess import TestClient, asgi_sandbox

pytestmark = pytest.mark.filterwarnings(
    "ignore:Generating overly large repr:hypothesis.errors.HypothesisWarning"
)
CODE = re.compile(r"[A-Z][A-Z_]*")
# A few seconds by default; APIMW_FUZZ_EXAMPLES=20000 fuzzes for longer.
EXAMPLES = int(os.environ.get("APIMW_FUZZ_EXAMPLES", "300"))
FIELDS = [
    *("url", "events", "secret", "active", "description"),
    *("to", "message", "preview_url", "template", "language", "components"),
    *("from", "text", "name", "type", "data"),
    *("api_key", "api_secret", "refresh_token", "token"),
]
# Values that get past the first checks, so that later ones are reached too.
USEFUL = [
    "+14155550123",
    "+14155550000",
    "message.sent",
    "message.received",
    "quota.warning",
    "hello_world",
    "order_confirmation",
    "spring_sale",
    "en",
    "es",
    "body",
    "header",
    "button",
    "text",
    "http://127.0.0.1:1/hook",
    "https://[::1]:1/hook",
    "http://[::1/x",
    "https://127.0.0.1:99999/",
    "https://127.0.0.1:1/\r\n",
    "rt_x",
    "APPROVED",
    SANDBOX_API_KEY,
    SANDBOX_API_SECRET,
]
HOSTILE_VALUES = [
    "[" * 40 + "]" * 40,
    "[" * 1500 + "]" * 1500,
    '{"a":' * 1200 + "1" + "}" * 1200,
    "[" * 3000,
    "9" * 101,
    "9" * 4301,
    "-" + "1" * 5000,
    "1e400",
    "NaN",
    "Infinity",
    "-Infinity",
    '"\\ud800"',
    '"a\\udfff"',
    '["\\udc00", {"\\ud800": 1}]',
    '"\\u0000\\r\\n\\t"',
]
QUERY_NAMES = ["page", "per_page", "limit", "status", "category"]
QUERY_VALUES = ["\u00b2", "\u0661", "\uff11", "0", "-1", "1.5", "9" * 30, "1", "100", "APPROVED"]

characters = (
    st.characters()
    | st.characters(codec=None, categories=["Cs"])  # lone surrogates
    | st.sampled_from("\u00b2\u0661\r\n\x00\t\\\"'[]{}")
)
texts = st.text(characters, max_size=20) | st.sampled_from(USEFUL)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(FIELDS) | texts, inner, max_size=3)
    ),
    max_leaves=8,
)
objects = st.dictionaries(st.sampled_from(FIELDS), values, max_size=5)


@st.composite
def bodies(draw: st.DrawFn) -> bytes | None:
    """A request body: none, JSON of any shape (surrogates escaped as `\\ud800`), an object
    with one hostile value spliced in, or bytes that are not JSON."""
    kind = draw(st.sampled_from(["none", "object", "spliced", "any json", "raw", "hostile"]))
    if kind == "none":
        return None
    if kind == "object":
        return json.dumps(draw(objects)).encode()
    if kind == "spliced":
        head = json.dumps(draw(objects))[:-1]
        field, value = draw(st.sampled_from(FIELDS)), draw(st.sampled_from(HOSTILE_VALUES))
        return (head + (", " if head != "{" else "") + f'"{field}": {value}}}').encode()
    if kind == "any json":
        return json.dumps(draw(values)).encode()
    if kind == "hostile":
        return draw(st.sampled_from(HOSTILE_VALUES)).encode()
    return draw(st.binary(max_size=64))


queries = st.dictionaries(
    st.sampled_from(QUERY_NAMES) | st.text(characters, max_size=4),
    st.sampled_from(QUERY_VALUES) | st.text(characters, max_size=6),
    max_size=3,
)


def encode(part: str) -> str:
    """Percent-encoded as UTF-8, lone surrogates included (as their 3 bytes: not UTF-8)."""
    return quote(part, safe="", errors="surrogatepass")


@dataclass
class Fuzzed:
    client: TestClient
    tokens: dict[str, str]  # name -> Authorization header value
    webhook_id: str
    message_id: str


@pytest.fixture(scope="module")
def fuzzed() -> Iterator[Fuzzed]:
    with asgi_sandbox() as client:
        good = client.headers["Authorization"]
        spare = client.post(
            "/v1/auth/token", json={"api_key": SANDBOX_API_KEY, "api_secret": SANDBOX_API_SECRET}
        ).json()["data"]["access_token"]
        webhook = client.post(
            "/v1/webhooks", json={"url": "http://127.0.0.1:1/hook", "events": ["message.sent"]}
        ).json()["data"]
        message = client.post(
            "/v1/whatsapp/messages/send", json={"to": "+14155550123", "message": "hi"}
        ).json()["data"]
        tokens = {
            "good": good,
            "spare": f"Bearer {spare}",  # the one revoke may revoke: revoking again is fine
            "garbage": "Bearer not.a.jwt",
            "tampered": good + "x",
            "empty": "",
            "basic": "Basic dXNlcjpwYXNz",
        }
        yield Fuzzed(client, tokens, webhook["id"], message["message_id"])


ENDPOINTS = [
    ("POST", "/v1/auth/token"),
    ("POST", "/v1/auth/refresh"),
    ("POST", "/v1/auth/revoke"),
    ("GET", "/v1/auth/me"),
    ("GET", "/v1/webhooks"),
    ("POST", "/v1/webhooks"),
    ("GET", "/v1/webhooks/{webhook}"),
    ("PATCH", "/v1/webhooks/{webhook}"),
    ("DELETE", "/v1/webhooks/{other}"),
    ("GET", "/v1/webhooks/{webhook}/deliveries"),
    ("GET", "/v1/webhooks/{other}/deliveries"),
    ("POST", "/v1/whatsapp/messages/send"),
    ("POST", "/v1/whatsapp/messages/template"),
    ("GET", "/v1/whatsapp/messages/{message}"),
    ("GET", "/v1/whatsapp/messages/{other}"),
    ("GET", "/v1/whatsapp/templates"),
    ("POST", "/v1/sandbox/inbound"),
    ("POST", "/v1/sandbox/events"),
    ("GET", "/v1/sandbox/health"),
]


def check_envelope(answer: Any, request: str) -> None:
    assert answer.status_code < 500, (request, answer.status_code, answer.text[:500])
    assert "x-ratelimit-limit" in answer.headers, request
    body = answer.json()
    assert isinstance(body, dict) and isinstance(body.get("success"), bool), (request, body)
    if answer.status_code >= 400:
        assert body["success"] is False, (request, body)
        error = body["error"]
        assert CODE.fullmatch(error["code"]), (request, body)
        assert isinstance(error["message"], str) and error["message"], (request, body)
    else:
        assert body["success"] is True and "data" in body, (request, body)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    endpoint=st.sampled_from(ENDPOINTS),
    body=bodies(),
    query=queries,
    token=st.sampled_from(["good"] * 6 + ["garbage", "tampered", "empty", "basic"]),
    other_id=st.text(characters, min_size=1, max_size=12),
    other_method=st.sampled_from(
        [None] * 12 + ["GET", "POST", "PATCH", "DELETE", "PUT", "OPTIONS"]
    ),
)
def test_no_request_gets_a_500(
    fuzzed: Fuzzed,
    endpoint: tuple[str, str],
    body: bytes | None,
    query: dict[str, str],
    token: str,
    other_id: str,
    other_method: str | None,
) -> None:
    method, template = endpoint
    if other_method is not None and not template.startswith("/v1/webhooks/{webhook}"):
        method = other_method  # mostly a 405 (the fixed webhook is kept: no DELETE on it)
    path = template.format(
        webhook=fuzzed.webhook_id, message=fuzzed.message_id, other=encode(other_id)
    )
    if query:
        path += "?" + urlencode(query, quote_via=lambda text, *_: encode(text))
    if template == "/v1/auth/revoke" and token == "good":
        token = "spare"  # keep the fuzzing token alive
    headers = {"Authorization": fuzzed.tokens[token], "Content-Type": "application/json"}
    answer = fuzzed.client.request(method, path, content=body, headers=headers)
    check_envelope(answer, f"{method} {path[:200]} {body[:200] if body else body!r}")


def test_the_fuzzed_sandbox_still_serves(fuzzed: Fuzzed) -> None:
    """Run after the fuzzing in this module's order: nothing it did broke the sandbox."""
    answer = fuzzed.client.get(f"/v1/webhooks/{fuzzed.webhook_id}")
    assert answer.status_code == 200, answer.text
    assert fuzzed.client.get("/v1/sandbox/health").json()["data"]["status"] == "ok"
