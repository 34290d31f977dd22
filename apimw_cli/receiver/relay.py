"""Which of a received request's headers a relay sends on: one rule for forwarding
(forwarder.py, through `forward_headers`) and for replaying (replay.py, `replay_headers`);
and how much of the app's answer either keeps (`ANSWER_LIMIT`, `answer_headers`), which the
session log's forward and replay lines record (recorder.py).

The received headers minus the hop-by-hop ones (`protocol.HOP_BY_HOP`, which also holds the
framing headers httpx writes itself), minus the names a `Connection` header lists, minus
Accept-Encoding. Each relay then adds its own marker (X-APIMW-Forwarded-By, X-APIMW-Replayed-By).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from apimw_cli import __version__
from apimw_cli.protocol import FORWARDED_BY_HEADER, HOP_BY_HOP, hop_by_hop

__all__ = [
    "ANSWER_LIMIT",
    "FORWARDED_BY",
    "NOT_RELAYED",
    "RELAYED_BY",
    "answer_headers",
    "forward_headers",
    "not_relayed",
]

RELAYED_BY = f"apimw-cli/{__version__}"  # the value of either relay's marker header
FORWARDED_BY = RELAYED_BY

ANSWER_LIMIT = 64 * 1024  # bytes of the app's answer body a relay keeps; the rest is not read


def answer_headers(raw: Iterable[tuple[bytes, bytes]]) -> tuple[tuple[str, str], ...]:
    """The app's answer headers as text, names in their own case (latin-1: any byte decodes)."""
    return tuple([(name.decode("latin-1"), value.decode("latin-1")) for name, value in raw])


# Accept-Encoding is not hop-by-hop (RFC 9110), but a relay does not pass the sender's on: the
# relay's own httpx client reads the app's answer and decodes it itself, so it must be the one
# to say which encodings it can decode. With the sender's value the app may compress in one it
# cannot (br or zstd without their optional packages pass through still compressed), and
# passthrough would hand APIMW a garbled body. httpx sends its own Accept-Encoding instead.
_RELAY_OWN = frozenset({"accept-encoding"})

NOT_RELAYED = HOP_BY_HOP | _RELAY_OWN  # when no `Connection` header names more


def not_relayed(headers: list[tuple[str, str]]) -> frozenset[str]:
    """The lower-case names a relay leaves out of `headers` (names as received, any case)."""
    return hop_by_hop(headers) | _RELAY_OWN


# A forwarded request arriving here has its marker replaced by ours, not repeated.
_NOT_FORWARDED = frozenset(name.encode("ascii") for name in NOT_RELAYED) | {
    FORWARDED_BY_HEADER.lower().encode("ascii")
}
_FORWARDED_BY = (FORWARDED_BY_HEADER.encode("ascii"), FORWARDED_BY.encode("ascii"))


def forward_headers(raw: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The headers to forward to the app, as bytes: the received ones by the rule above, plus
    X-APIMW-Forwarded-By. (One pass; this runs for every forwarded event.)"""
    kept: list[tuple[bytes, bytes]] = []
    connection: tuple[bytes, ...] | None = None  # the values of Connection headers
    for header in raw:
        lower = header[0].lower()
        if lower not in _NOT_FORWARDED:
            kept.append(header)
        elif lower == b"connection":
            connection = (header[1],) if connection is None else (*connection, header[1])
    if connection is not None:
        named = _also_named(connection)
        if named:
            kept = [header for header in kept if header[0].lower() not in named]
    kept.append(_FORWARDED_BY)
    return kept


@functools.lru_cache(maxsize=64)  # senders repeat their Connection value (`keep-alive`, mostly)
def _also_named(connection: tuple[bytes, ...]) -> frozenset[bytes]:
    """The names Connection header values list that are not left out anyway."""
    listed = not_relayed([("connection", value.decode("latin-1")) for value in connection])
    return frozenset(name.encode("latin-1") for name in listed) - _NOT_FORWARDED
