"""What the forwarder keeps of the app's answer for the inspector: its headers (names in their own
case, values as latin-1 text, in order, repeats kept) and whether its body went past the 64 KB
the forwarder keeps. On both paths: http1 (http://, background lanes and passthrough's
forward_now) and httpx (https://)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from apimw_cli.models import Forwarded
from apimw_cli.receiver.forwarder import RESPONSE_BODY_LIMIT, Forwarder, _post_httpx
from tests.http1.server import Peer, read_request, reply, serving
from tests.receiver.test_forward_lanes import Reports, run

HEADERS = [(b"content-type", b"application/json"), (b"x-apimw-delivery", b"dlv_1")]
# Mixed case, a repeated name, a byte past ASCII (latin-1 reads every byte) and an empty value.
EXTRA = (
    b"X-App-Trace: abc-123\r\nset-cookie: a=1\r\nSet-Cookie: b=2\r\nX-Odd: caf\xe9\r\nX-Empty:\r\n"
)
EXPECTED = [
    ("X-App-Trace", "abc-123"),
    ("set-cookie", "a=1"),
    ("Set-Cookie", "b=2"),
    ("X-Odd", "caf\xe9"),
    ("X-Empty", ""),
]


def answering(answer: bytes) -> Any:
    async def handler(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Peer
    ) -> None:
        while await read_request(reader, peer) is not None:
            writer.write(answer)
            await writer.drain()

    return handler


def test_http1_lanes_keep_the_answer_headers_as_sent() -> None:
    async def scenario() -> None:
        async with serving(answering(reply(201, b"made", EXTRA))) as peer:
            outcomes = Reports()
            forwarder = Forwarder([peer.url], 5, 1, outcomes, None)
            await forwarder.start()
            forwarder.submit("rec_1", b"{}", HEADERS)
            await forwarder.drain(5)
        [outcome] = outcomes
        assert (outcome.status, outcome.response_body) == (201, b"made")
        assert list(outcome.response_headers) == [("Content-Length", "4"), *EXPECTED]
        assert outcome.response_truncated is False

    run(scenario)


def test_http1_passthrough_keeps_the_answer_headers() -> None:
    async def scenario() -> None:
        async with serving(answering(reply(202, b"", b"X-App-Trace: p\r\n"))) as peer:
            forwarder = Forwarder([peer.url], 5, 1, Reports(), None)
            await forwarder.start()
            outcome = await forwarder.forward_now("rec_1", b"{}", HEADERS)
            await forwarder.drain(5)
        assert outcome.status == 202
        assert ("X-App-Trace", "p") in outcome.response_headers

    run(scenario)


def test_http1_says_when_the_answer_body_was_cut() -> None:
    big = b"x" * (RESPONSE_BODY_LIMIT + 10)

    async def scenario() -> None:
        async with serving(answering(reply(200, big))) as peer:
            outcomes = Reports()
            forwarder = Forwarder([peer.url], 5, 1, outcomes, None)
            await forwarder.start()
            forwarder.submit("rec_1", b"{}", HEADERS)
            await forwarder.drain(5)
        [outcome] = outcomes
        assert outcome.response_body == big[:RESPONSE_BODY_LIMIT]
        assert outcome.response_truncated is True
        assert ("Content-Length", str(len(big))) in outcome.response_headers

    run(scenario)


def test_failed_forwards_have_no_answer_headers() -> None:
    async def scenario() -> None:
        async with serving() as peer:
            url = peer.url
        outcomes = Reports()  # the server is gone: connection refused
        forwarder = Forwarder([url], 5, 1, outcomes, None)
        await forwarder.start()
        forwarder.submit("rec_1", b"{}", HEADERS)
        await forwarder.drain(5)
        [outcome] = outcomes
        assert outcome.error is not None
        assert (outcome.response_headers, outcome.response_truncated) == ((), False)

    run(scenario)


def _httpx_client(answer: httpx.Response) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(lambda _request: answer))


def test_httpx_keeps_the_answer_headers_as_sent() -> None:
    raw = [(name, value) for name, _, value in (line.partition(b": ") for line in
           EXTRA.split(b"\r\n") if line)]  # fmt: skip
    raw = [(n.rstrip(b":"), v) for n, v in raw]  # "X-Empty:" has no space after its colon
    answer = httpx.Response(201, headers=raw, content=b"made")

    async def scenario() -> Forwarded:
        async with _httpx_client(answer) as client:
            return await _post_httpx(client, "rec_1", "https://app.example/hook", b"{}", HEADERS, 5)

    outcome = run(scenario)
    assert (outcome.status, outcome.response_body, outcome.error) == (201, b"made", None)
    kept = [h for h in outcome.response_headers if h[0].lower() != "content-length"]
    assert kept == EXPECTED
    assert outcome.response_truncated is False


def test_httpx_says_when_the_answer_body_was_cut() -> None:
    big = b"y" * (RESPONSE_BODY_LIMIT + 1)
    answer = httpx.Response(200, content=big)

    async def scenario() -> Forwarded:
        async with _httpx_client(answer) as client:
            return await _post_httpx(client, "rec_1", "https://app.example/hook", b"{}", HEADERS, 5)

    outcome = run(scenario)
    assert outcome.response_body == big[:RESPONSE_BODY_LIMIT]
    assert outcome.response_truncated is True


def test_httpx_exactly_at_the_limit_is_not_cut() -> None:
    whole = b"z" * RESPONSE_BODY_LIMIT
    answer = httpx.Response(200, content=whole)

    async def scenario() -> Forwarded:
        async with _httpx_client(answer) as client:
            return await _post_httpx(client, "rec_1", "https://app.example/hook", b"{}", HEADERS, 5)

    outcome = run(scenario)
    assert (outcome.response_body, outcome.response_truncated) == (whole, False)
