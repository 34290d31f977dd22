"""The webhook URL rule: a URL is registered only when a delivery can be sent to it.

Checked in order, each refusal a 400 naming `url`: a string of at most MAX_URL characters with no
control character, whitespace or backslash anywhere; http or https with a host (a well-formed
IPv6 address in brackets, or a name of host characters) and, when given, a port of ASCII digits
from 1 to 65535; plain http only on loopback; and whatever the delivery sender refuses
to send to. Python's urlsplit and httpx disagree on some of these (httpx takes port 99999, `+80`
and `٨٠`; urlsplit raises on a broken IPv6 literal), so the rule checks them itself. The sender
is apimw_cli.http1 for http:// and httpx for https:// (delivery.url_refusal asks each's reading).
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from urllib.parse import SplitResult, urlsplit

from apimw_cli.protocol import is_loopback
from apimw_cli.sandbox.delivery import HTTPS_ONLY, url_refusal
from apimw_cli.sandbox.envelopes import Problem, invalid

MAX_URL = 2048
MAX_HOST = 253  # DNS's limit on a whole name
_PORT = re.compile(r"[0-9]{1,5}")
# A host name: letters, digits and `.-_~` (RFC 3986's unreserved set), or any non-ASCII letter
# (an internationalised name, which httpx encodes and checks).
_HOST_NAME = re.compile(r"[A-Za-z0-9._~\-]+")


def check_url(value: object) -> str:
    """`value` when it is a URL deliveries can be sent to; else a 400 naming `url`."""
    if not isinstance(value, str):
        raise invalid("url", "must be a string")
    if not value:
        raise invalid("url", "must not be empty")
    if len(value) > MAX_URL:
        raise invalid("url", f"must be at most {MAX_URL} characters")
    _check_characters(value)
    try:
        parts = urlsplit(value)
    except ValueError:
        raise _malformed() from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise invalid("url", "must be an absolute https:// URL")
    host = _check_authority(parts)
    if parts.scheme == "http" and not _plain_http_allowed(host):
        raise invalid("url", HTTPS_ONLY)
    refusal = url_refusal(value, plain_http=parts.scheme == "http")
    if refusal is not None:
        raise invalid("url", refusal)
    return value


def _check_characters(value: str) -> None:
    """No control character (CR, LF, NUL, tab, ...), whitespace or backslash anywhere: a
    sender would refuse them, or read the URL differently from what was registered."""
    for position, char in enumerate(value):
        if char == "\\":
            raise invalid("url", f"must not contain a backslash (at position {position})")
        category = unicodedata.category(char)
        if category[0] in "CZ":  # controls, format characters, surrogates, separators
            raise invalid(
                "url",
                f"must not contain whitespace or control characters"
                f" ({char!a} at position {position})",
            )


def _malformed() -> Problem:
    return invalid(
        "url", "is not a well-formed URL (an IPv6 address goes in brackets: https://[::1]:8443/)"
    )


def _check_authority(parts: SplitResult) -> str:
    """The host (lowercase, without brackets), once host and port check out."""
    host_port = parts.netloc.rpartition("@")[2]
    if host_port.startswith("["):
        literal, bracket, after = host_port[1:].partition("]")
        if not bracket or not _is_ipv6(literal):
            raise _malformed()
        host, port_part = literal.lower(), after
        if port_part and not port_part.startswith(":"):
            raise _malformed()
    else:
        if "[" in host_port or "]" in host_port:
            raise _malformed()
        name, colon, port = host_port.partition(":")
        host, port_part = name.lower(), colon + port
        _check_host_name(host)
    if port_part:
        _check_port(port_part[1:])
    return host


def _is_ipv6(literal: str) -> bool:
    try:
        ipaddress.IPv6Address(literal)
    except ValueError:
        return False
    return "%" not in literal  # a zone id names an interface of the sender's machine


def _check_host_name(host: str) -> None:
    if not host:
        raise invalid("url", "must name a host (https://example.com/...)")
    if len(host) > MAX_HOST:
        raise invalid("url", f"the host must be at most {MAX_HOST} characters")
    if any(char.isascii() and not _HOST_NAME.fullmatch(char) for char in host):
        raise invalid("url", f"the host {host!r} has a character a host name cannot have")


def _check_port(port: str) -> None:
    if not _PORT.fullmatch(port) or not 1 <= int(port) <= 65535:
        raise invalid("url", f"the port {port!r} is not a number from 1 to 65535")


def _plain_http_allowed(host: str) -> bool:
    """`localhost` or a loopback address. protocol.is_loopback also takes other names for this
    machine (`*.localhost`, `localhost.localdomain`); the sandbox keeps to the names its error
    message lists."""
    return is_loopback(host) and (host == "localhost" or _is_address(host))


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
