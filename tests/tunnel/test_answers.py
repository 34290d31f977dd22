"""The self-check through the public URL: our receiver's 405 counts, ngrok's errors do not."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from apimw_cli.models import Forwarded, Received
from apimw_cli.protocol import PROBE_HEADER
from apimw_cli.receiver.events import ReceiverConfig
from apimw_cli.receiver.server import run_in_thread
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


def test_a_marked_url_another_session_does_not_serve_is_gone() -> None:
    """A reserved domain: the new session's receiver serves only its own marked path, so the
    crashed session's URL gets 404 (dead), while the live one's gets 405 (alive)."""
    config = ReceiverConfig(port=0, path="/webhooks/apimw-listen-aaaaaaaaaaaa", secrets=("x",))
    with run_in_thread(config, lambda _: None) as running:
        live = running.url.rstrip("/") + "/webhooks/apimw-listen-aaaaaaaaaaaa"
        crashed = running.url.rstrip("/") + "/webhooks/apimw-listen-bbbbbbbbbbbb"
        assert answers(live, exact_path=True)
        assert not answers(crashed, exact_path=True)
        assert answers(crashed)  # without exact_path: any answer of ours counts


# --- the self-check is marked, and the receiver does not report it as an event --------------


def test_the_self_check_carries_the_probe_token() -> None:
    with CaptureServer(Reply(405, b"", content_type=None), path="/webhooks") as server:
        assert answers(server.url, probe_token="tok-123")
        assert answers(server.url)  # unmarked: no header at all
        marked, unmarked = server.requests
    assert marked.method == "GET"
    assert marked.header(PROBE_HEADER) == "tok-123"
    assert unmarked.header(PROBE_HEADER) is None


def _receiver_reports(probe_token: str | None) -> list[Received | Forwarded]:
    """What a receiver reports to its sink for one self-check carrying `probe_token`."""
    reports: list[Received | Forwarded] = []
    config = ReceiverConfig(port=0, path="/webhooks", secrets=("x",))
    with run_in_thread(config, reports.append) as running:
        token = config.probe_token if probe_token == "own" else probe_token
        assert answers(running.url.rstrip("/") + "/webhooks", probe_token=token)
    return reports


def test_the_receiver_answers_its_own_self_check_without_reporting_it() -> None:
    assert _receiver_reports("own") == []


@pytest.mark.parametrize("token", [None, "another-session's-token", ""])
def test_a_get_without_the_sessions_token_is_still_reported(token: str | None) -> None:
    [report] = _receiver_reports(token)
    assert isinstance(report, Received)
    assert (report.method, report.status, report.kind) == ("GET", 405, "rejected")


def test_each_receiver_config_has_its_own_probe_token() -> None:
    first, second = ReceiverConfig(), ReceiverConfig()
    assert first.probe_token != second.probe_token
    assert len(first.probe_token) >= 16
