"""APIMW's webhook protocol in one place: header names, the sender's user agent, loopback hosts,
the verification challenge rule, hop-by-hop headers, permission names and the waits around them.

The client, the sandbox, the receiver, the conformance suite and `trigger` all read these, so a
fact changes here or nowhere. docs/apimw-api.md says which are documented by APIMW and which are
our contract where its docs are silent.
"""

from __future__ import annotations

import ipaddress
import json

from apimw_cli import __version__

# --- headers on a delivery (docs/apimw-api.md, "Deliveries and signatures") ---------------------
SIGNATURE_HEADER = "X-APIMW-Signature"
EVENT_HEADER = "X-APIMW-Event"
DELIVERY_HEADER = "X-APIMW-Delivery"
SENDER_USER_AGENT = "APIMW-Webhooks/1.0"  # what APIMW's deliveries carry

# --- headers we add ourselves ---------------------------------------------------------------------
CLIENT_USER_AGENT = f"apimw-cli/{__version__}"  # our requests to the API
TEST_HEADER = "X-APIMW-Test"  # marks a `webhooks test` request; the value names the tool
FORWARDED_BY_HEADER = "X-APIMW-Forwarded-By"
REPLAYED_BY_HEADER = "X-APIMW-Replayed-By"
# The tunnel's self-check (a GET through the public URL) carries the session's token here, so
# the receiver answers it without reporting it as an event.
PROBE_HEADER = "X-APIMW-Probe"


def delivery_headers(event_type: str, delivery_id: str) -> dict[str, str]:
    """The headers APIMW sends with a delivery, the signature aside."""
    return {
        "Content-Type": "application/json",
        "User-Agent": SENDER_USER_AGENT,
        EVENT_HEADER: event_type,
        DELIVERY_HEADER: delivery_id,
    }


# RFC 9110 7.6.1 hop-by-hop headers, plus the framing headers an HTTP client writes itself
# (Host, Content-Length, Expect). A relay (forward, replay) never copies these; the names a
# `Connection` header lists are hop-by-hop too (see `hop_by_hop`).
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "expect",
    }
)


def hop_by_hop(headers: list[tuple[str, str]]) -> frozenset[str]:
    """The lower-case header names a relay must drop from `headers`: HOP_BY_HOP, plus every
    name listed by a `Connection` header."""
    named = {
        token.strip().lower()
        for name, value in headers
        if name.lower() == "connection"
        for token in value.split(",")
        if token.strip()
    }
    return HOP_BY_HOP | named


# --- the verification challenge (docs/apimw-api.md, "Webhooks") -----------------------------------
VERIFICATION_WAIT = 10.0  # seconds to wait for the API to report a new webhook's challenge


def echoes_challenge(body: bytes, challenge: str) -> bool:
    """Whether an endpoint's 200 answer proves ownership: the body is the challenge value as
    text (surrounding whitespace ignored), or a JSON object whose `challenge` is the value.

    Nothing else counts: a JSON string `"abc"` is the value in quotes, which APIMW's docs do not
    allow, so both the sandbox and `webhooks test` refuse it.
    """
    text = body.decode("utf-8", "replace").strip()
    if text == challenge:
        return True
    if not text.startswith("{"):
        return False
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        return False
    return isinstance(parsed, dict) and parsed.get("challenge") == challenge


# --- hosts ---------------------------------------------------------------------------------------
# Plain http is acceptable only to these: APIMW delivers to HTTPS, the sandbox also to loopback.
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
LOOPBACK_ADDRESSES = ("127.0.0.1", "::1")


def is_loopback(host: str) -> bool:
    """`localhost` (and `*.localhost`), or any loopback address, bracketed or not."""
    bare = host.lower()
    if bare.startswith("[") or bare.endswith("]"):
        if not (bare.startswith("[") and bare.endswith("]")):
            return False  # half a bracket is no host at all
        bare = bare[1:-1]
    bare = bare.rstrip(".")
    if bare in LOOPBACK_NAMES or bare.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(bare).is_loopback
    except ValueError:
        return False


# --- permissions (docs/apimw-api.md, "Authentication") --------------------------------------------
WEBHOOKS_PERMISSION = "webhooks:manage"  # what every webhooks command and `listen` need
