"""The webhook URL rule: a URL is registered (POST) or changed to (PATCH) only when deliveries can
be sent to it; anything else is 400 VALIDATION_ERROR naming `url`, and nothing is stored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from apimw_cli.sandbox.delivery import Sender
from tests.sandbox.inprocess import TestClient, asgi_sandbox

# Each of these was taken with 201 (or crashed with 500) and then could never be delivered to.
BAD_URLS = {
    "cr": "https://example.com/ho\rok",
    "lf": "https://example.com/hook\n",
    "crlf in host": "https://exa\r\nmple.com/",
    "nul": "https://example.com/\x00hook",
    "tab": "https://example.com/\thook",
    "space": "https://example.com/a hook",
    "space in host": "https://exa mple.com/",
    "leading space": " https://example.com/hook",
    "del": "https://example.com/\x7f",
    "c1 control": "https://example.com/\x85",
    "line separator": "https://example.com/\u2028",
    "nbsp": "https://example.com/\u00a0",
    "zero width": "https://exam\u200bple.com/",
    "lone surrogate": "https://example.com/\ud800",
    "backslash": "https://example.com\\@evil.test/",
    "port too big": "https://example.com:99999/hook",
    "port 65536": "https://example.com:65536/",
    "port zero": "https://example.com:0/",
    "port letters": "https://example.com:abc/",
    "port sign": "https://example.com:+443/",
    "port unicode digits": "https://example.com:\u0664\u0664\u0663/",
    "port superscript": "https://example.com:\u00b2/",
    "port empty": "https://example.com:/hook",
    "port huge": "https://example.com:" + "9" * 5000 + "/",
    "ipv6 unclosed": "http://[::1/x",
    "ipv6 unclosed https": "https://[2001:db8::1/x",
    "ipv6 garbage": "https://[not:an:address]/",
    "ipv4 in brackets": "https://[127.0.0.1]/",
    "ipv6 zone": "https://[fe80::1%25eth0]/",
    "ipv6 junk after": "https://[2001:db8::1]x/",
    "stray bracket": "https://exa]mple.com/",
    "no host": "https:///hook",
    "only port": "https://:443/hook",
    "userinfo no host": "https://user@/hook",
    "bad host char": "https://exa<mple.com/",
    "percent in host": "https://%65xample.com/",
    "bad idna": "https://xn--zz.example/",
    "host too long": "https://" + "a" * 254 + "/",
    "too long": "https://example.com/" + "a" * 2100,
    "ftp": "ftp://example.com/hook",
    "javascript": "javascript:alert(1)",
    "relative": "/hooks",
    "no scheme": "example.com/hook",
    "empty": "",
    "plain http remote": "http://example.com/hook",
    "plain http localhost subdomain": "http://app.localhost/hook",
}
GOOD_URLS = [
    "https://example.com/hook",
    "https://example.com:8443/hooks?x=1#frag",
    "https://user:pw@example.com/hook",
    "https://b\u00fccher.example/hook",
    "https://[2001:db8::1]:8443/hook",
    "http://localhost:3000/hook",
    "http://127.0.0.1:1/hook",
    "http://[::1]:65535/hook",
    "https://example.com/caf\u00e9",
]


def post_webhook(api: TestClient, url: object) -> Any:
    """POST a webhook for `url`, as JSON with ASCII escapes (a lone surrogate is `\\ud800`)."""
    body = json.dumps({"url": url, "events": ["message.sent"]})
    return api.post("/v1/webhooks", content=body, headers={"Content-Type": "application/json"})


@pytest.fixture(scope="module")
def api() -> Iterator[TestClient]:
    """An in-process sandbox whose challenges go nowhere: the accepted URLs name hosts on the
    internet, and tests reach none."""

    async def no_challenge(self: Sender, url: str, secret: str | None) -> str | None:
        return "not sent (test)"

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Sender, "challenge", no_challenge)
        with asgi_sandbox() as client:
            yield client


def assert_url_refused(answer: object) -> None:
    status = getattr(answer, "status_code", None)
    assert status == 400, (status, getattr(answer, "text", ""))
    body = answer.json()  # type: ignore[attr-defined]
    assert body["success"] is False
    assert body["error"]["code"] == "VALIDATION_ERROR"
    assert body["error"]["message"].startswith("url: "), body


@pytest.mark.parametrize("url", BAD_URLS.values(), ids=BAD_URLS.keys())
def test_bad_url_is_refused_on_create(api: TestClient, url: str) -> None:
    before = api.get("/v1/webhooks?per_page=100").json()["data"]["pagination"]["total"]
    assert_url_refused(post_webhook(api, url))
    after = api.get("/v1/webhooks?per_page=100").json()["data"]["pagination"]["total"]
    assert after == before, "a refused webhook was stored"


@pytest.mark.parametrize("url", BAD_URLS.values(), ids=BAD_URLS.keys())
def test_bad_url_is_refused_on_update(api: TestClient, url: str) -> None:
    created = api.post(
        "/v1/webhooks",
        json={"url": "https://example.com/kept", "events": ["message.sent"], "active": False},
    ).json()["data"]
    body = json.dumps({"url": url})
    answer = api.patch(
        f"/v1/webhooks/{created['id']}",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    assert_url_refused(answer)
    assert api.get(f"/v1/webhooks/{created['id']}").json()["data"]["url"] == created["url"]


@pytest.mark.parametrize("url", ["http://", "https://", "http:", "://x", "http//x"])
def test_url_without_a_host_is_refused(api: TestClient, url: str) -> None:
    assert_url_refused(post_webhook(api, url))


@pytest.mark.parametrize("value", [None, 1, True, ["https://example.com/"], {"u": 1}])
def test_url_of_another_type_is_refused(api: TestClient, value: object) -> None:
    assert_url_refused(post_webhook(api, value))


@pytest.mark.parametrize("url", GOOD_URLS)
def test_deliverable_urls_are_accepted(api: TestClient, url: str) -> None:
    # Inactive: nothing is delivered; the challenge may fail, which is not the point here.
    answer = api.post(
        "/v1/webhooks", json={"url": url, "events": ["message.sent"], "active": False}
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["data"]["url"] == url


def test_the_refusal_says_what_is_wrong(api: TestClient) -> None:
    def message(url: str) -> str:
        text: str = post_webhook(api, url).json()["error"]["message"]
        return text

    assert "1 to 65535" in message(BAD_URLS["port too big"])
    assert "'\\r'" in message(BAD_URLS["cr"])
    assert "position" in message(BAD_URLS["nul"])
    assert "brackets" in message(BAD_URLS["ipv6 unclosed"])
    assert "HTTPS" in message(BAD_URLS["plain http remote"])
    assert "at most 2048" in message(BAD_URLS["too long"])
