"""Which of a received request's headers a relay sends on: one rule for forwarding
(forwarder.py, through `forward_headers`) and for replaying (replay.py, `replay_headers`).

The received headers minus the hop-by-hop ones (`protocol.HOP_BY_HOP`, which also holds the
framing headers httpx writes itself), minus the names a `Connection` header lists, minus
Accept-Encoding. Each relay then adds its own marker (X-APIMW-Forwarded-By, X-APIMW-Replayed-By).
"""

from __future__ import annotations

from collections.abc import Iterable

from apimw_cli import __version__
from apimw_cli.protocol import FORWARDED_BY_HEADER, HOP_BY_HOP, hop_by_hop

__all__ = ["FORWARDED_BY", "NOT_RELAYED", "RELAYED_BY", "forward_headers", "not_relayed"]

RELAYED_BY = f"apimw-cli/{__version__}"  # the value of either relay's marker header
FORWARDED_BY = RELAYED_BY

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
    X-APIMW-Forwarded-By."""
    headers = list(raw)
    dropped = _NOT_FORWARDED
    listed = [
        (n.decode("latin-1"), v.decode("latin-1")) for n, v in headers if n.lower() == b"connection"
    ]
    if listed:  # only then is the rule worked out per request
        dropped = dropped | {name.encode("latin-1") for name in not_relayed(listed)}
    kept = [(name, value) for name, value in headers if name.lower() not in dropped]
    kept.append(_FORWARDED_BY)
    return kept
