"""Helpers for the tunnel tests: an HTTP client that ignores proxy settings."""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit


def request(
    url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request straight to `url` (no proxy from the environment): status, headers, body."""
    parts = urlsplit(url)
    assert parts.hostname is not None
    connection_class = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    connection = connection_class(parts.hostname, parts.port, timeout=10)
    try:
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection.request(method, target, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()
