"""The protocol facts every part shares (apimw_cli/protocol.py), and the rules decided there."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apimw_cli import protocol
from apimw_cli.protocol import echoes_challenge, hop_by_hop, is_loopback

CHALLENGE = "c_9Vb2kQ"


@pytest.mark.parametrize(
    "body",
    [
        CHALLENGE.encode(),
        f"  {CHALLENGE}\r\n".encode(),
        f'{{"challenge": "{CHALLENGE}"}}'.encode(),
        f'{{"challenge":"{CHALLENGE}","ok":true}}\n'.encode(),
    ],
)
def test_the_value_as_text_or_in_a_json_object_proves_ownership(body: bytes) -> None:
    assert echoes_challenge(body, CHALLENGE)


@pytest.mark.parametrize(
    "body",
    [
        f'"{CHALLENGE}"'.encode(),  # a JSON string: the value in quotes (docs/apimw-api.md)
        b"",
        b"ok",
        CHALLENGE.upper().encode(),
        f"{CHALLENGE}x".encode(),
        f'{{"Challenge": "{CHALLENGE}"}}'.encode(),
        f'{{"challenge": ["{CHALLENGE}"]}}'.encode(),
        f'[{{"challenge": "{CHALLENGE}"}}]'.encode(),
        b"{" * 100_000,
        b"\xff\xfe" + CHALLENGE.encode(),
    ],
)
def test_anything_else_does_not(body: bytes) -> None:
    assert not echoes_challenge(body, CHALLENGE)


def test_a_deeply_nested_answer_is_refused_not_raised() -> None:
    body = b'{"challenge": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    assert not echoes_challenge(body, CHALLENGE)


@given(st.binary(max_size=2_000))
def test_any_answer_is_judged_without_raising(body: bytes) -> None:
    assert echoes_challenge(body, CHALLENGE) in (True, False)


@pytest.mark.parametrize(
    "host",
    ["localhost", "LOCALHOST", "localhost.", "app.localhost", "127.0.0.1", "127.8.9.1", "::1",
     "[::1]", "ip6-localhost"],
)  # fmt: skip
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize(
    "host",
    ["", "example.com", "localhost.example.com", "10.0.0.1", "0.0.0.0", "::", "[::2]",
     "127.0.0.1.nip.io", "[::1"],
)  # fmt: skip
def test_other_hosts_are_not_loopback(host: str) -> None:
    assert not is_loopback(host)


def test_relays_drop_hop_by_hop_headers_and_those_connection_names() -> None:
    dropped = hop_by_hop([("Connection", "keep-alive, X-Secret-Hop ,  "), ("X-Other", "1")])
    assert dropped >= protocol.HOP_BY_HOP
    assert "x-secret-hop" in dropped
    assert "x-other" not in dropped
    assert "" not in dropped


def test_a_delivery_carries_apimw_headers() -> None:
    headers = protocol.delivery_headers("message.sent", "dlv_1")
    assert headers == {
        "Content-Type": "application/json",
        "User-Agent": "APIMW-Webhooks/1.0",
        "X-APIMW-Event": "message.sent",
        "X-APIMW-Delivery": "dlv_1",
    }
