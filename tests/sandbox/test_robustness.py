"""Rate limiting and bad input: every answer is an error envelope and the server keeps serving."""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from apimw_cli.sandbox import server as server_module
from apimw_cli.sandbox.server import SandboxConfig
from tests.sandbox.support import (
    MakeApi,
    MakeSandbox,
    RunningSandboxLike,
    client,
    data_of,
    error_of,
    webhooks_of,
)
from tests.support.sandbox import DEFAULTS

RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
TEN_MB = 10 * 1024 * 1024


@pytest.fixture
def running_sandbox(module_sandbox: RunningSandboxLike) -> RunningSandboxLike:
    """Bad requests leave no state: one sandbox serves the module (rate limits get their own)."""
    return module_sandbox


def still_serving(sandbox_api: httpx.Client) -> None:
    data_of(sandbox_api.get("auth/me"))


def test_rate_limit_headers_on_every_response(
    make_sandbox: MakeSandbox, make_sandbox_api: MakeApi
) -> None:
    running = make_sandbox(rate_limit=1000)
    sandbox_api = make_sandbox_api(running)
    responses = [
        sandbox_api.get("auth/me"),  # 200
        sandbox_api.get("webhooks/whk_nope"),  # 404
        sandbox_api.post("webhooks", json={}),  # 400
        sandbox_api.put("webhooks"),  # 405
        sandbox_api.get("auth/me", headers={"Authorization": "Bearer nope"}),  # 401
        sandbox_api.get("nowhere"),  # 404 unknown path
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
    make_sandbox: MakeSandbox, make_sandbox_api: MakeApi
) -> None:
    limit = 5
    sandbox_api = make_sandbox_api(
        make_sandbox(rate_limit=limit)
    )  # the token request counts, or not
    statuses = []
    limited = None
    for _ in range(limit + 1):
        response = sandbox_api.get("webhooks")
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


def test_keep_alive_connections_have_nagle_off(
    make_sandbox: MakeSandbox, make_sandbox_api: MakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sequential requests on one connection must not wait on Nagle + delayed ACK (~40 ms a
    request): the sandbox's connections have TCP_NODELAY. (Request latency: benchmarks/.)"""
    servers: list[Any] = []
    make_server = server_module._server  # private: the one place that builds the uvicorn server

    def recording(config: SandboxConfig) -> Any:
        servers.append(make_server(config))
        return servers[-1]

    monkeypatch.setattr(server_module, "_server", recording)
    sandbox_api = make_sandbox_api(make_sandbox())
    for _ in range(3):
        data_of(sandbox_api.get("auth/me"))
    [server] = servers
    connections = list(server.server_state.connections)
    assert connections, "the client's keep-alive connection is open"
    for connection in connections:
        sock = connection.transport.get_extra_info("socket")
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_unlimited_when_rate_limit_is_zero(sandbox_api: httpx.Client) -> None:
    for _ in range(40):
        data_of(sandbox_api.get("webhooks"))


@pytest.mark.parametrize(
    ("method", "path"),
    [("PUT", "webhooks"), ("DELETE", "auth/me"), ("GET", "auth/token"), ("POST", "auth/me")],
)
def test_wrong_method_is_405_envelope(sandbox_api: httpx.Client, method: str, path: str) -> None:
    error_of(sandbox_api.request(method, path), 405, "METHOD_NOT_ALLOWED")
    still_serving(sandbox_api)


@pytest.mark.parametrize("path", ["nowhere", "webhooks/whk_x/nothing", "/", "/v2/webhooks"])
def test_unknown_path_is_404_envelope(
    running_sandbox: RunningSandboxLike, sandbox_api: httpx.Client, path: str
) -> None:
    # "/" and "/v2/..." are outside the /v1 base: resolve them against the server root.
    url = running_sandbox.base_url.rsplit("/v1", 1)[0] + path if path.startswith("/") else path
    error_of(sandbox_api.get(url), 404, "NOT_FOUND")
    still_serving(sandbox_api)


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
    anon: httpx.Client, sandbox_api: httpx.Client, method: str, path: str
) -> None:
    error_of(anon.request(method, path, json={}), 401, "INVALID_TOKEN")
    still_serving(sandbox_api)


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
def test_bad_json_body_is_validation_error(sandbox_api: httpx.Client, path: str, name: str) -> None:
    response = sandbox_api.post(
        path, content=BAD_BODIES[name], headers={"Content-Type": "application/json"}
    )
    error_of(response, 400, "VALIDATION_ERROR")
    still_serving(sandbox_api)


def test_bad_body_on_patch_is_validation_error(sandbox_api: httpx.Client) -> None:
    created = data_of(
        sandbox_api.post(
            "webhooks", json={"url": "https://127.0.0.1:1/", "events": ["message.sent"]}
        ),
        201,
    )
    for raw in BAD_BODIES.values():
        response = sandbox_api.patch(
            f"webhooks/{created['id']}", content=raw, headers={"Content-Type": "application/json"}
        )
        error_of(response, 400, "VALIDATION_ERROR")
    still_serving(sandbox_api)


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    yield b'{"url": "https://127.0.0.1:1/", "events": ["message.sent"], "description": "'
    sent = 0
    while sent < total:
        yield b"x" * size
        sent += size
    yield b'"}'


@pytest.mark.parametrize("path", ["webhooks", "auth/token", "sandbox/events"])
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_ten_megabyte_body_is_validation_error(
    sandbox_api: httpx.Client, path: str, framing: str
) -> None:
    headers = {"Content-Type": "application/json"}
    stored = len(webhooks_of(sandbox_api))
    if framing == "chunked":
        response = sandbox_api.post(path, content=_chunks(TEN_MB), headers=headers)
    else:
        response = sandbox_api.post(path, content=b"".join(_chunks(TEN_MB)), headers=headers)
    error_of(response, 400, "VALIDATION_ERROR")
    still_serving(sandbox_api)
    assert len(webhooks_of(sandbox_api)) == stored


def test_many_bad_requests_in_a_row_leave_server_serving(
    running_sandbox: RunningSandboxLike, sandbox_api: httpx.Client
) -> None:
    with client(running_sandbox.base_url) as noisy:
        for _ in range(50):
            assert noisy.post("auth/token", content=b"\xff" * 100).status_code == 400
            assert noisy.get("nowhere").status_code in (401, 404)
            assert noisy.delete("webhooks").status_code in (401, 405)
    still_serving(sandbox_api)


@pytest.mark.parametrize(
    "request_bytes",
    [
        b'POST /v1/auth/token HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"api_key"',
        b"POST /v1/auth/token HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2\r\n{}\r\nzz\r\n",
    ],
    ids=["gone-mid-body", "malformed-chunk"],
)
def test_a_client_gone_mid_body_logs_no_error(
    running_sandbox: RunningSandboxLike,
    sandbox_api: httpx.Client,
    caplog: pytest.LogCaptureFixture,
    request_bytes: bytes,
) -> None:
    """It used to print "Exception in ASGI application" and a ClientDisconnect traceback."""
    url = httpx.URL(running_sandbox.base_url)
    assert url.port is not None
    with caplog.at_level(logging.WARNING):
        with socket.create_connection((url.host, url.port), timeout=5) as sock:
            sock.sendall(request_bytes)
            time.sleep(0.2)  # the sandbox is reading the body
        still_serving(sandbox_api)
        time.sleep(0.2)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_a_body_still_arriving_when_the_sandbox_stops_is_cut_off_with_a_plain_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """uvicorn's ERROR and CancelledError traceback at the end of the grace period, said
    plainly (output/logs.ServerNotes)."""
    with (
        caplog.at_level(logging.WARNING),
        contextlib.ExitStack() as client,
        server_module.run_in_thread(SandboxConfig(**DEFAULTS)) as running,
    ):
        # `client` closes the socket after the sandbox has stopped (the `with` exits in reverse)
        sock = client.enter_context(socket.create_connection(("127.0.0.1", running.port)))
        sock.sendall(b"POST /v1/auth/token HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        time.sleep(0.2)  # the sandbox is reading the body
    notes = [(r.levelname, r.getMessage()) for r in caplog.records if r.levelno >= logging.WARNING]
    assert notes == [("WARNING", "stopping: cut off 1 request still in progress")]
