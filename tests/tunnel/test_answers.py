"""The self-check through the public URL: our receiver's 405 counts, ngrok's errors do not."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from apimw_cli.tunnel import answers
from tests.support.capture import CaptureServer, Reply


def serve(status: int, headers: dict[str, str] | None = None) -> Iterator[str]:
    """An endpoint answering every request with `status`, no body and `headers`."""
    reply = Reply(status, b"", content_type=None, headers=headers or {})
    with CaptureServer(reply, path="/webhooks") as server:
        yield server.url


@pytest.fixture
def method_not_allowed() -> Iterator[str]:
    yield from serve(405)


@pytest.fixture
def bad_gateway() -> Iterator[str]:
    yield from serve(502)


@pytest.fixture
def tunnel_gone() -> Iterator[str]:
    yield from serve(404, {"Ngrok-Error-Code": "ERR_NGROK_3200"})


def test_our_receivers_405_means_the_tunnel_works(method_not_allowed: str) -> None:
    assert answers(method_not_allowed)


def test_a_bad_gateway_means_it_does_not(bad_gateway: str) -> None:
    assert not answers(bad_gateway)


def test_an_ngrok_error_page_means_it_does_not(tunnel_gone: str) -> None:
    assert not answers(tunnel_gone)


def test_nothing_listening_means_it_does_not() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert not answers(f"http://127.0.0.1:{port}/webhooks", timeout=1.0)
