"""Rate limiting and bad input: every answer is an error envelope and the server keeps serving."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.sandbox.support import (
    MakeApi,
    MakeSandbox,
    RunningSandboxLike,
    client,
    data_of,
    error_of,
)

RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
TEN_MB = 10 * 1024 * 1024


@pytest.fixture
def sandbox(shared_sandbox: RunningSandboxLike) -> RunningSandboxLike:
    """Bad requests leave no state: one sandbox serves the module (rate limits get their own)."""
    return shared_sandbox


def still_serving(api: httpx.Client) -> None:
    data_of(api.get("auth/me"))


def test_rate_limit_headers_on_every_response(make_sandbox: MakeSandbox, make_api: MakeApi) -> None:
    running = make_sandbox(rate_limit=1000)
    api = make_api(running)
    responses = [
        api.get("auth/me"),  # 200
        api.get("webhooks/whk_nope"),  # 404
        api.post("webhooks", json={}),  # 400
        api.put("webhooks"),  # 405
        api.get("auth/me", headers={"Authorization": "Bearer nope"}),  # 401
        api.get("nowhere"),  # 404 unknown path
    ]
    remaining = []
    for response in responses:
        for name in RATE_HEADERS:
            assert name in response.headers, (response.status_code, response.request.url, name)
        assert int(response.headers["X-RateLimit-Limit"]) == 1000
        remaining.append(int(response.headers["X-RateLimit-Remaining"]))
        reset = int(response.headers["X-RateLimit-Reset"])
        assert time.time() - 5 <= reset <= time.time() + 3600, "reset is a unix time"
    assert remaining == sorted(remaining, reverse=True) and remaining[0] > remaining[-1]


def test_over_the_limit_gets_429_with_retry_after(
    make_sandbox: MakeSandbox, make_api: MakeApi
) -> None:
    limit = 5
    api = make_api(make_sandbox(rate_limit=limit))  # the token request counts, or not
    statuses = []
    limited = None
    for _ in range(limit + 1):
        response = api.get("webhooks")
        statuses.append(response.status_code)
        if response.status_code == 429:
            limited = response
            break
    assert statuses[: limit - 1] == [200] * (limit - 1), statuses
    assert limited is not None, statuses
    error = error_of(limited, 429, "RATE_LIMIT_EXCEEDED")
    assert isinstance(error["retry_after"], int | float) and 0 < error["retry_after"] <= 60
    assert 0 < int(limited.headers["Retry-After"]) <= 60
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert limited.headers["X-RateLimit-Limit"] == str(limit)


def test_keep_alive_requests_answer_promptly(api: httpx.Client) -> None:
    """Sequential requests on one connection must not wait on Nagle + delayed ACK (~40 ms)."""
    timings = []
    for _ in range(20):
        started = time.perf_counter()
        data_of(api.get("auth/me"))
        timings.append(time.perf_counter() - started)
    timings.sort()
    assert timings[len(timings) // 2] < 0.020, [round(t * 1000, 1) for t in timings]


def test_unlimited_when_rate_limit_is_zero(api: httpx.Client) -> None:
    for _ in range(40):
        data_of(api.get("webhooks"))


@pytest.mark.parametrize(
    ("method", "path"),
    [("PUT", "webhooks"), ("DELETE", "auth/me"), ("GET", "auth/token"), ("POST", "auth/me")],
)
def test_wrong_method_is_405_envelope(api: httpx.Client, method: str, path: str) -> None:
    error_of(api.request(method, path), 405, "METHOD_NOT_ALLOWED")
    still_serving(api)


@pytest.mark.parametrize("path", ["nowhere", "webhooks/whk_x/nothing", "/", "/v2/webhooks"])
def test_unknown_path_is_404_envelope(
    sandbox: RunningSandboxLike, api: httpx.Client, path: str
) -> None:
    # "/" and "/v2/..." are outside the /v1 base: resolve them against the server root.
    url = sandbox.base_url.rsplit("/v1", 1)[0] + path if path.startswith("/") else path
    error_of(api.get(url), 404, "NOT_FOUND")
    still_serving(api)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "webhooks"),
        ("POST", "webhooks"),
        ("GET", "auth/me"),
        ("POST", "whatsapp/messages/send"),
        ("POST", "sandbox/events"),
    ],
)
def test_missing_auth_header_is_invalid_token(
    anon: httpx.Client, api: httpx.Client, method: str, path: str
) -> None:
    error_of(anon.request(method, path, json={}), 401, "INVALID_TOKEN")
    still_serving(api)


BAD_BODIES = {
    "garbage": b"\x00\x01garbage{{{",
    "truncated": b'{"type": "message.sent", "data": {',
    "invalid-utf8": b'{"url": "https://x.test/\xff\xfe", "events": ["message.sent"]}',
    "utf16": '{"url": "https://x.test/"}'.encode("utf-16"),
}


@pytest.mark.parametrize("name", list(BAD_BODIES))
@pytest.mark.parametrize(
    "path", ["auth/token", "auth/refresh", "webhooks", "whatsapp/messages/send", "sandbox/events"]
)
def test_bad_json_body_is_validation_error(api: httpx.Client, path: str, name: str) -> None:
    response = api.post(
        path, content=BAD_BODIES[name], headers={"Content-Type": "application/json"}
    )
    error_of(response, 400, "VALIDATION_ERROR")
    still_serving(api)


def test_bad_body_on_patch_is_validation_error(api: httpx.Client) -> None:
    created = data_of(
        api.post("webhooks", json={"url": "https://127.0.0.1:1/", "events": ["message.sent"]}),
        201,
    )
    for raw in BAD_BODIES.values():
        response = api.patch(
            f"webhooks/{created['id']}", content=raw, headers={"Content-Type": "application/json"}
        )
        error_of(response, 400, "VALIDATION_ERROR")
    still_serving(api)


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    yield b'{"url": "https://127.0.0.1:1/", "events": ["message.sent"], "description": "'
    sent = 0
    while sent < total:
        yield b"x" * size
        sent += size
    yield b'"}'


@pytest.mark.parametrize("path", ["webhooks", "auth/token", "sandbox/events"])
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_ten_megabyte_body_is_validation_error(api: httpx.Client, path: str, framing: str) -> None:
    headers = {"Content-Type": "application/json"}
    stored = len(data_of(api.get("webhooks")))
    if framing == "chunked":
        response = api.post(path, content=_chunks(TEN_MB), headers=headers)
    else:
        response = api.post(path, content=b"".join(_chunks(TEN_MB)), headers=headers)
    error_of(response, 400, "VALIDATION_ERROR")
    still_serving(api)
    assert len(data_of(api.get("webhooks"))) == stored


def test_many_bad_requests_in_a_row_leave_server_serving(
    sandbox: RunningSandboxLike, api: httpx.Client
) -> None:
    with client(sandbox.base_url) as noisy:
        for _ in range(50):
            assert noisy.post("auth/token", content=b"\xff" * 100).status_code == 400
            assert noisy.get("nowhere").status_code in (401, 404)
            assert noisy.delete("webhooks").status_code in (401, 405)
    still_serving(api)
