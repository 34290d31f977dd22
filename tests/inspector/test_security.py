"""The inspector stays the user's own (issue #18): a Host that is not ours is refused before
anything else (DNS rebinding), actions need the per-run token and our own Origin (no cross-site
replay), every answer carries the security headers and a strict CSP, nothing grants CORS, the
secret is in no answer, and the page never turns data into markup."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from apimw_cli.inspector.security import CSP, TOKEN_HEADER
from tests.inspector.web_support import (
    SECRET,
    TOKEN,
    Inspector,
    SessionLog,
    build,
    inspector_over,
)
from tests.support.capture import CaptureServer, Reply

EXPECTED_HEADERS = {
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "content-security-policy": CSP,
}


@pytest.fixture
def app() -> Iterator[CaptureServer]:
    with CaptureServer(Reply(200)) as server:
        yield server


@pytest.fixture
def page(log: SessionLog, app: CaptureServer) -> Iterator[Inspector]:
    yield from inspector_over(log, target=app.url)


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "evil.example:4040",
        "127.0.0.1.evil.example",
        "127.0.0.1.evil.example:4040",
        "localhost.evil.example:4040",
        "127.0.0.1:4041",  # another port: another origin
        "127.0.0.1",
        "localhost",
        "0.0.0.0:4040",
        "",
        "127.0.0.1:4040.",
    ],
)
def test_a_foreign_host_is_refused_on_every_route(
    page: Inspector, log: SessionLog, host: str
) -> None:
    record_id = log.event()
    for method, path in [
        ("GET", "/"),
        ("GET", "/app.js"),
        ("GET", "/api/info"),
        ("GET", "/api/events"),
        ("GET", f"/api/events/{record_id}"),
        ("GET", f"/api/events/{record_id}/body"),
        ("GET", f"/api/events/{record_id}/curl"),
        ("GET", "/api/stream"),
        ("GET", "/nothing"),
    ]:
        answer = page.client.request(method, path, headers={"host": host, **page.action_headers()})
        assert answer.status_code == 421, (host, path)
        assert answer.headers["content-type"].startswith("text/plain")
        assert record_id not in answer.text and TOKEN not in answer.text
        for name, value in EXPECTED_HEADERS.items():
            assert answer.headers[name] == value


def test_a_replay_from_a_foreign_host_sends_nothing(
    page: Inspector, log: SessionLog, app: CaptureServer
) -> None:
    record_id = log.event()
    answer = page.replay(record_id, host="evil.example:4040")
    assert answer.status_code == 421
    assert app.requests == []


@pytest.mark.parametrize(
    "host", ["127.0.0.1:4040", "localhost:4040", "LocalHost:4040", "[::1]:4040"]
)
def test_our_own_loopback_names_are_served(page: Inspector, host: str) -> None:
    assert page.get("/api/info", headers={"host": host}).status_code == 200


async def _asgi_get(asgi: Any, headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/api/info",
        "raw_path": b"/api/info",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 4040),
    }
    await asgi(scope, receive, send)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], body


def test_a_missing_or_doubled_host_is_refused(log: SessionLog) -> None:
    built = build(log.path)
    assert asyncio.run(_asgi_get(built.app, []))[0] == 421
    doubled = [(b"host", b"127.0.0.1:4040"), (b"host", b"evil.example")]
    assert asyncio.run(_asgi_get(built.app, doubled))[0] == 421
    status, body = asyncio.run(_asgi_get(built.app, [(b"host", b"127.0.0.1:4040")]))
    assert status == 200 and b"can_replay" in body


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {TOKEN_HEADER: ""},
        {TOKEN_HEADER: "wrong"},
        {TOKEN_HEADER: TOKEN + "x"},
        {TOKEN_HEADER: TOKEN[:-1]},
        {TOKEN_HEADER: TOKEN.upper()},
        {TOKEN_HEADER: "t\u00e9st"},  # not ASCII (latin-1 on the wire): refused, no 500
        {"Authorization": f"Bearer {TOKEN}"},
        {"X-APIMW-Token": TOKEN},
    ],
)
def test_actions_without_the_right_token_are_refused(
    page: Inspector, log: SessionLog, app: CaptureServer, headers: dict[str, str]
) -> None:
    record_id = log.event()
    wire = {name.encode(): value.encode("latin-1") for name, value in headers.items()}
    replay = page.client.post(
        f"/api/events/{record_id}/replay", json={"mode": "verbatim"}, headers=wire
    )
    assert replay.status_code == 403, replay.text
    assert "token" in replay.json()["error"]
    curl = page.client.get(f"/api/events/{record_id}/curl", headers=wire)
    assert curl.status_code == 403
    assert "command" not in curl.json()
    assert app.requests == []


def test_the_token_in_the_query_string_is_not_enough(page: Inspector, log: SessionLog) -> None:
    record_id = log.event()
    assert page.client.get(f"/api/events/{record_id}/curl?token={TOKEN}").status_code == 403


def test_the_token_sent_twice_is_refused(page: Inspector, log: SessionLog) -> None:
    record_id = log.event()
    headers = [(TOKEN_HEADER, TOKEN), (TOKEN_HEADER, TOKEN)]
    assert page.client.get(f"/api/events/{record_id}/curl", headers=headers).status_code == 403


@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",
        "null",
        "http://127.0.0.1:4041",
        "https://127.0.0.1:4040",
        "http://127.0.0.1:4040.evil.example",
        "http://localhost:4040",  # another origin than the page's own (Host 127.0.0.1)
    ],
)
def test_actions_from_another_origin_are_refused(
    page: Inspector, log: SessionLog, app: CaptureServer, origin: str
) -> None:
    record_id = log.event()
    answer = page.replay(record_id, origin=origin)
    assert answer.status_code == 403
    assert "Origin" in answer.json()["error"]
    assert (
        page.client.get(
            f"/api/events/{record_id}/curl", headers=page.action_headers(origin=origin)
        ).status_code
        == 403
    )
    assert app.requests == []


def test_a_cross_site_fetch_is_refused_even_with_the_token(
    page: Inspector, log: SessionLog
) -> None:
    record_id = log.event()
    answer = page.replay(record_id, **{"sec-fetch-site": "cross-site"})
    assert answer.status_code == 403


def test_actions_from_the_page_itself_pass(
    page: Inspector, log: SessionLog, app: CaptureServer
) -> None:
    record_id = log.event()
    own = {"origin": "http://127.0.0.1:4040", "sec-fetch-site": "same-origin"}
    assert page.replay(record_id, **own).status_code == 200
    app.wait_requests(1)


def test_every_answer_has_the_security_headers_and_none_grants_cors(
    page: Inspector, log: SessionLog
) -> None:
    record_id = log.event()
    answers = [
        page.get("/"),
        page.get("/app.js"),
        page.get("/app.css"),
        page.get("/api/info"),
        page.get("/api/events"),
        page.get("/api/events?limit=0"),
        page.get(f"/api/events/{record_id}"),
        page.get(f"/api/events/{record_id}/body"),
        page.get("/api/events/nope"),
        page.curl(record_id),
        page.get(f"/api/events/{record_id}/curl"),  # 403
        page.get("/nothing"),
        page.client.post("/"),
        page.client.options(
            "/api/events/x/replay",
            headers={
                "origin": "http://evil.example",
                "access-control-request-method": "POST",
                "access-control-request-headers": TOKEN_HEADER,
            },
        ),
        page.get("/api/info", headers={"origin": "http://evil.example"}),
    ]
    for answer in answers:
        where = f"{answer.request.method} {answer.request.url.path} -> {answer.status_code}"
        for name, value in EXPECTED_HEADERS.items():
            assert answer.headers.get(name) == value, (where, name)
        assert not [name for name in answer.headers if name.startswith("access-control-")], where


def test_the_secret_is_in_no_answer(page: Inspector, log: SessionLog, app: CaptureServer) -> None:
    """Walks every route (the stream's part is in test_server.py) for a log whose events were
    all signed with the secret and whose page can re-sign with it."""
    ids = [log.event(), log.event(signed_with="whsec_other"), log.event(signed_with=None)]
    log.forward(ids[0], 200)
    texts = [page.get(path).content for path in ("/", "/app.js", "/app.css", "/api/info")]
    texts.append(page.get("/api/events").content)
    for record_id in ids:
        texts.append(page.get(f"/api/events/{record_id}").content)
        texts.append(page.get(f"/api/events/{record_id}/body").content)
        for mode in ("verbatim", "resigned"):
            texts.append(page.curl(record_id, mode).content)
            texts.append(page.replay(record_id, mode).content)
    texts.append(page.get("/api/events").content)  # now with the replay rows
    texts.append(page.get("/api/events?q=whsec").content)
    for text in texts:
        assert SECRET.encode() not in text
        assert SECRET[len("whsec_") :].encode() not in text
