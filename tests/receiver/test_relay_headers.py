"""Forwarding and `events replay` send on the same headers (apimw_cli/receiver/relay.py): the
received ones minus hop-by-hop (protocol.HOP_BY_HOP), minus the names a `Connection` header
lists, minus Accept-Encoding (the relay's own client decodes the answer, so it asks for its own
encodings); each adds only its marker."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from apimw_cli import __version__
from apimw_cli.protocol import FORWARDED_BY_HEADER, HOP_BY_HOP, REPLAYED_BY_HEADER
from apimw_cli.receiver.events import ReceiverConfig
from apimw_cli.receiver.relay import forward_headers
from apimw_cli.receiver.replay import client, replay, replay_headers
from tests.receiver.support import SECRET, RawApp, RawRequest, event_body, live_receiver
from tests.support.waiting import wait_for

# Headers every relay keeps, as a delivery carries them.
KEPT = {
    "content-type": "application/json",
    "user-agent": "APIMW-Webhooks/1.0",
    "x-apimw-delivery": "dlv_1",
    "x-custom": "kept",
}
# A plausible value for each header left out (any other gets "1").
VALUES = {
    "connection": "keep-alive",
    "content-length": "2",
    "expect": "100-continue",
    "host": "127.0.0.1:4242",
    "te": "trailers",
    "transfer-encoding": "chunked",
    "upgrade": "h2c",
    "accept-encoding": "br",
}
NAMED_BY_CONNECTION = "x-named-by-connection"
LEFT_OUT = [*sorted(HOP_BY_HOP), "accept-encoding", NAMED_BY_CONNECTION]


def forwarded_names(headers: dict[str, str]) -> set[str]:
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    sent = {name.decode("latin-1").lower() for name, _ in forward_headers(raw)}
    assert FORWARDED_BY_HEADER.lower() in sent
    return sent - {FORWARDED_BY_HEADER.lower()}


def replayed_names(headers: dict[str, str]) -> set[str]:
    sent = {name.decode("latin-1").lower() for name, _ in replay_headers(headers, b"{}", None)}
    assert REPLAYED_BY_HEADER.lower() in sent
    return sent - {REPLAYED_BY_HEADER.lower()}


@pytest.mark.parametrize("spelling", [str.lower, str.title], ids=["lower", "Title"])
@pytest.mark.parametrize("name", LEFT_OUT)
def test_forward_and_replay_leave_out_the_same_header(
    name: str, spelling: Callable[[str], str]
) -> None:
    headers = {**KEPT, spelling(name): VALUES.get(name, "1")}
    if name == NAMED_BY_CONNECTION:
        headers[spelling("connection")] = f"close, {spelling(name)}"
    forwarded = forwarded_names(headers)
    assert name not in forwarded
    assert forwarded == replayed_names(headers) == set(KEPT)


def test_every_name_a_connection_header_lists_is_left_out_by_both() -> None:
    headers = {**KEPT, "Connection": " X-One ,x-two,, ", "X-One": "1", "x-TWO": "2", "x-three": "3"}
    assert forwarded_names(headers) == replayed_names(headers) == {*KEPT, "x-three"}


def test_a_relayed_request_relayed_again_carries_one_marker_not_two() -> None:
    forwarded = [(b"X-APIMW-Forwarded-By", b"apimw-cli/0.1"), (b"X-Kept", b"1")]
    names = [name.lower() for name, _ in forward_headers(forwarded)]
    assert names.count(FORWARDED_BY_HEADER.lower().encode()) == 1
    replayed = {"X-APIMW-Replayed-By": "apimw-cli/0.1", "X-Kept": "1"}
    names = [name.lower() for name, _ in replay_headers(replayed, b"{}", None)]
    assert names.count(REPLAYED_BY_HEADER.lower().encode()) == 1


def test_an_unmarked_send_carries_no_replay_marker() -> None:
    """`trigger --to` sends a new event through replay(): no X-APIMW-Replayed-By."""
    names = [name.lower() for name, _ in replay_headers({"X-Kept": "1"}, b"{}", None, marked=False)]
    assert names == [b"x-kept"]


# --------------------------------------------------------------------------- on the wire

SENDER_ENCODING = "x-sender-only"  # an Accept-Encoding only the sender would ask for
HOPS = {"Connection": "keep-alive, X-Hop", "X-Hop": "1", "Keep-Alive": "timeout=5"}


def arrived(request: RawRequest) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in request.headers}


def test_forward_and_replay_send_the_same_headers_over_the_wire() -> None:
    body = event_body()
    with RawApp() as app:
        config = ReceiverConfig(port=0, secrets=(SECRET,), forward_to=(app.url,))
        with live_receiver(config) as live:
            extra = {"Accept-Encoding": SENDER_ENCODING, **HOPS, "X-Custom": "kept"}
            assert live.post(body, delivery="dlv_1", **extra).status_code == 200
            [outcome] = live.sink.wait_forwarded(1)
            assert outcome.status == 200
            recorded = dict(live.sink.received[0].headers)
        assert recorded["accept-encoding"] == SENDER_ENCODING  # received and recorded as sent
        with client(5.0) as http:
            result = replay(http, app.url, "rec_1", body, recorded)
        assert result.status == 200, result
        wait_for(lambda: len(app.requests) == 2, what="the forward and the replay")
        forwarded, replayed = (arrived(request) for request in app.requests)

    assert forwarded.pop(FORWARDED_BY_HEADER.lower()) == f"apimw-cli/{__version__}"
    assert replayed.pop(REPLAYED_BY_HEADER.lower()) == f"apimw-cli/{__version__}"
    # Each relay's client adds its own framing and negotiation: the forward's (apimw_cli.http1)
    # none beyond Host and Content-Length, replay's httpx also Connection and Accept-Encoding.
    assert "accept-encoding" not in forwarded and "connection" not in forwarded
    assert forwarded.keys() == replayed.keys() - {"connection", "accept-encoding"}
    for headers in (forwarded, replayed):
        assert "x-hop" not in headers
        assert "keep-alive" not in headers
        assert headers["x-custom"] == "kept"
        assert headers["x-apimw-delivery"] == "dlv_1"
        # The client's own, if any: it decodes what it asked for, never what only the sender
        # could (the forward asks for nothing, so the app answers uncompressed).
        assert SENDER_ENCODING not in headers.get("accept-encoding", "")
