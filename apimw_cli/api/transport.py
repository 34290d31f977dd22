"""httpx, imported when a request is about to be made, and the transport for an API base URL.

Import this module, never `httpx` at the top of an api/ module: a command that sends nothing
(help, a usage error) then never imports httpx. Two costs of a one-shot command's single request
are cut here (figures in tests/test_startup_imports.py's docstring):

- httpx's `__init__` imports its command-line client (`httpx._main`: click, pygments, and rich's
  console, progress, syntax and table) whenever those are installed, as they are beside typer:
  over a third of httpx's import time. A None entry in sys.modules makes that one import fail
  (the documented meaning of None there), and httpx falls back to what it does without its
  `[cli]` extra; the entry is removed at once, so an explicit `import httpx._main` still works.
- httpx.Client builds its transport's TLS context at once, loading certifi's CA bundle, even
  for an http:// URL that never needs it. `transport_for` gives an http:// base URL a transport
  that makes none; an https:// URL gets httpx's default, which verifies certificates.
"""

from __future__ import annotations

import sys
from typing import Any, cast

__all__ = ["PlainHTTPTransport", "httpx", "transport_for"]

if "httpx" not in sys.modules and "httpx._main" not in sys.modules:
    sys.modules["httpx._main"] = None  # type: ignore[assignment]
    try:
        import httpx
    finally:
        del sys.modules["httpx._main"]
else:
    import httpx


class PlainHTTPTransport(httpx.BaseTransport):
    """For an http:// base URL: its requests go through a connection pool made without a TLS
    context. An https:// request (an absolute link the API gave) goes through httpx's default
    transport, certificates verified, built when first needed."""

    def __init__(self) -> None:
        # httpx passes a `verify` that is neither a bool nor a str on to httpcore as the SSL
        # context, and httpcore reads None as "make the default one when a TLS connection needs
        # it": never, since only http:// requests come here. Verification is not turned off.
        self._plain = httpx.HTTPTransport(verify=cast(Any, None))
        self._tls: httpx.HTTPTransport | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme == "http":
            return self._plain.handle_request(request)
        if self._tls is None:
            self._tls = httpx.HTTPTransport()
        return self._tls.handle_request(request)

    def close(self) -> None:
        self._plain.close()
        if self._tls is not None:
            self._tls.close()


def transport_for(base_url: str) -> httpx.BaseTransport | None:
    """The transport for requests to `base_url`: None (httpx's default) unless it is http://."""
    if base_url.lower().startswith("http://"):
        return PlainHTTPTransport()
    return None
