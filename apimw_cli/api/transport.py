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
- httpx's default transport is httpcore (with h11 and anyio): ~20-30 ms to import, for a
  one-shot command's single plain-HTTP request. An http:// request goes instead through the
  standard library's `http.client`, which httpx has imported already (urllib.request, cookies):
  one kept-alive connection per host, httpx's timeouts, and httpx's exceptions, so the client
  above sees exactly what it saw from httpcore. https:// keeps httpx's own transport.
"""

from __future__ import annotations

import http.client
import select
import socket
import sys
from typing import Any, NoReturn

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
    """For an http:// base URL: its requests go over plain `http.client` connections, one kept
    alive per host and port, no TLS context. An https:// request (an absolute link the API
    gave) goes through httpx's default transport, certificates verified, built when needed."""

    def __init__(self) -> None:
        self._connections: dict[tuple[str, int], http.client.HTTPConnection] = {}
        self._tls: httpx.HTTPTransport | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme == "http":
            return self._plain(request)
        if self._tls is None:
            self._tls = httpx.HTTPTransport()
        return self._tls.handle_request(request)

    def close(self) -> None:
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()
        if self._tls is not None:
            self._tls.close()

    def _plain(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        # The host as sent (IDNA 2008 punycode, as httpcore connects), not its decoded form.
        key = (request.url.raw_host.decode("ascii"), request.url.port or 80)
        connection = self._connections.pop(key, None)
        if connection is not None and not _reusable(connection):
            connection.close()
            connection = None
        if connection is None:
            connection = http.client.HTTPConnection(*key, timeout=timeouts.get("connect"))
        try:
            response = _exchange(connection, request, timeouts)
        except BaseException:
            connection.close()
            raise
        if not response.will_close:
            self._connections[key] = connection  # at most one per host: requests run in turn
        else:
            connection.close()
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.getheaders()]
        return httpx.Response(
            response.status,
            headers=headers,
            stream=httpx.ByteStream(response.body),
            extensions={
                "http_version": b"HTTP/1.1" if response.version == 11 else b"HTTP/1.0",
                "reason_phrase": response.reason.encode("latin-1"),
            },
        )


class _Answer(http.client.HTTPResponse):
    body: bytes = b""


def _reusable(connection: http.client.HTTPConnection) -> bool:
    """A kept-alive connection the server has not closed (nor sent anything on) meanwhile."""
    sock = connection.sock
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def _exchange(
    connection: http.client.HTTPConnection, request: httpx.Request, timeouts: dict[str, Any]
) -> _Answer:
    """Send `request` and read its whole answer, http.client's and socket errors raised as
    the httpx exceptions httpcore raises for them."""
    connection.response_class = _Answer
    try:
        if connection.sock is None:
            connection.connect()
    except TimeoutError as exc:
        raise httpx.ConnectTimeout(str(exc) or "timed out", request=request) from exc
    except OSError as exc:
        raise httpx.ConnectError(str(exc), request=request) from exc
    sock = connection.sock
    assert sock is not None
    try:
        sock.settimeout(timeouts.get("write"))
        target = request.url.raw_path.decode("ascii")
        connection.putrequest(request.method, target, skip_host=True, skip_accept_encoding=True)
        for name, value in request.headers.raw:
            connection.putheader(name, value)
        connection.endheaders(request.read() or None)
    except (ValueError, http.client.HTTPException) as exc:
        raise httpx.LocalProtocolError(str(exc), request=request) from exc
    except OSError as exc:
        _raise_io(exc, request, httpx.WriteTimeout, httpx.WriteError)
    try:
        sock.settimeout(timeouts.get("read"))
        response = connection.getresponse()
        assert isinstance(response, _Answer)
        response.body = response.read()
    except http.client.HTTPException as exc:
        reason = str(exc) or type(exc).__name__
        raise httpx.RemoteProtocolError(reason, request=request) from exc
    except OSError as exc:
        _raise_io(exc, request, httpx.ReadTimeout, httpx.ReadError)
    return response


def _raise_io(
    exc: OSError, request: httpx.Request, timeout: type[httpx.TimeoutException], error: Any
) -> NoReturn:
    if isinstance(exc, TimeoutError | socket.timeout):
        raise timeout(str(exc) or "timed out", request=request) from exc
    raise error(str(exc), request=request) from exc


def transport_for(base_url: str) -> httpx.BaseTransport | None:
    """The transport for requests to `base_url`: None (httpx's default) unless it is http://."""
    if base_url.lower().startswith("http://"):
        return PlainHTTPTransport()
    return None
