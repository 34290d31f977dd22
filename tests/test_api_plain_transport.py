"""api/transport.py's plain-HTTP transport (http.client under httpx, #17): what the API client
gets from it is what httpcore gave: the answer as sent (chunked, gzip, odd headers), one
kept-alive connection, httpx's timeouts, and httpx's exceptions for every failure."""

from __future__ import annotations

import gzip
import json
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from apimw_cli.api.client import ApiClient
from apimw_cli.api.transport import PlainHTTPTransport
from apimw_cli.errors import NetworkError
from tests.support.capture import CaptureServer, Reply
from tests.support.waiting import wait_for

# (request bytes received so far on this connection) -> what to send back (None: close).
Answer = Callable[[bytes], bytes | None]


class RawServer:
    """A TCP server on 127.0.0.1 that reads a request's head (and a Content-Length body) and
    sends back whatever `answer` makes of it, byte for byte; it counts connections."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.connections = 0
        self.hang_up_after_answer = False
        self.hung_up = 0
        self.received: list[bytes] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        buffer = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buffer:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                head, _, rest = buffer.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(rest) < length:
                    rest += conn.recv(65536)
                request, buffer = head + b"\r\n\r\n" + rest[:length], rest[length:]
                self.received.append(request)
                reply = self.answer(request)
                if reply is None:
                    return
                conn.sendall(reply)
                if self.hang_up_after_answer:
                    conn.shutdown(socket.SHUT_WR)
                    self.hung_up += 1
                    return

    def close(self) -> None:
        self._listener.close()


@pytest.fixture
def raw_server() -> Iterator[Callable[[Answer], RawServer]]:
    servers: list[RawServer] = []

    def make(answer: Answer) -> RawServer:
        servers.append(RawServer(answer))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def ok(body: bytes = b'{"success": true, "data": 1}', *extra: bytes) -> bytes:
    head = [b"HTTP/1.1 200 OK", b"Content-Type: application/json", *extra]
    head.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def send(server: RawServer, method: str = "GET", path: str = "/x", **kwargs: Any) -> httpx.Response:
    with httpx.Client(transport=PlainHTTPTransport(), timeout=5) as client:
        return client.request(method, server.url + path, **kwargs)


def test_a_request_goes_out_as_httpx_made_it(raw_server: Any) -> None:
    server = raw_server(lambda _request: ok())
    response = send(server, "POST", "/v1/w?a=1&b=%20", json={"k": "é"}, headers={"X-A": "b"})
    assert response.status_code == 200 and response.json() == {"success": True, "data": 1}
    head, _, body = server.received[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /v1/w?a=1&b=%20 HTTP/1.1"
    assert f"Host: 127.0.0.1:{server.port}".encode() in lines
    assert b"X-A: b" in lines and b"Content-Type: application/json" in lines
    assert not any(line.lower().startswith(b"accept-encoding: identity") for line in lines)
    assert json.loads(body) == {"k": "é"}
    assert response.http_version == "HTTP/1.1" and response.reason_phrase == "OK"


def test_requests_share_one_kept_alive_connection(raw_server: Any) -> None:
    server = raw_server(lambda _request: ok())
    with httpx.Client(transport=PlainHTTPTransport()) as client:
        for _ in range(3):
            assert client.get(server.url + "/x").status_code == 200
    assert server.connections == 1 and len(server.received) == 3


def test_a_connection_the_server_closed_is_replaced(raw_server: Any) -> None:
    server = raw_server(lambda _request: ok(b"{}", b"Connection: close"))
    with httpx.Client(transport=PlainHTTPTransport()) as client:
        assert client.get(server.url + "/x").status_code == 200
        assert client.get(server.url + "/x").status_code == 200
    assert server.connections == 2


def test_an_idle_connection_the_server_closed_is_not_reused(raw_server: Any) -> None:
    """The server hangs up after an answer that did not say so (as an idle timeout does): the
    next request sees the closed connection before sending and opens another (nothing lost,
    nothing sent twice)."""
    server = raw_server(lambda _request: ok())
    server.hang_up_after_answer = True
    with httpx.Client(transport=PlainHTTPTransport()) as client:
        assert client.get(server.url + "/x").status_code == 200
        wait_for(lambda: server.hung_up == 1, what="the server hung up")
        assert client.get(server.url + "/x").status_code == 200
    assert server.connections == 2 and len(server.received) == 2


def test_a_kept_connection_that_turned_readable_is_not_reused(raw_server: Any) -> None:
    """Anything readable on an idle connection (its end, or bytes nobody asked for) means it
    cannot carry the next exchange: a new connection does."""
    server = raw_server(lambda _request: ok())
    with httpx.Client(transport=PlainHTTPTransport()) as client:
        assert client.get(server.url + "/x").status_code == 200
        transport = client._transport
        assert isinstance(transport, PlainHTTPTransport)
        (connection,) = transport._connections.values()
        assert connection.sock is not None
        connection.sock.shutdown(socket.SHUT_RD)  # reads now see its end
        assert client.get(server.url + "/x").status_code == 200
    assert server.connections == 2


def test_chunked_and_gzip_answers_are_decoded(raw_server: Any) -> None:
    packed = gzip.compress(b'{"success": true, "data": "zipped"}')
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (packed[:7], packed[7:]))
    reply = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"
    )
    server = raw_server(lambda _request: reply)
    response = send(server)
    assert response.json() == {"success": True, "data": "zipped"}


def test_header_values_keep_every_byte(raw_server: Any) -> None:
    server = raw_server(lambda _request: ok(b"{}", b"X-Name: caf\xe9", b"X-Two: a", b"X-Two: b"))
    response = send(server)
    assert response.headers.raw.count((b"X-Two", b"a")) == 1
    assert response.headers.get_list("x-two") == ["a", "b"]
    assert response.headers.raw[1] == (b"X-Name", b"caf\xe9")


def test_an_http_1_0_answer_without_length_reads_to_the_end(raw_server: Any) -> None:
    server = raw_server(lambda _request: b"HTTP/1.0 404 Not Found\r\n\r\nnope")
    server.hang_up_after_answer = True
    response = send(server)
    assert (response.status_code, response.text, response.http_version) == (
        404,
        "nope",
        "HTTP/1.0",
    )


def test_nothing_listening_is_a_connect_error() -> None:
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with (
        httpx.Client(transport=PlainHTTPTransport()) as client,
        pytest.raises(httpx.ConnectError, match="refused"),
    ):
        client.get(f"http://127.0.0.1:{port}/x")


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (b"garbage\r\n\r\n", httpx.RemoteProtocolError),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", httpx.RemoteProtocolError),
        (None, httpx.RemoteProtocolError),  # the server hangs up without an answer
        (
            b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 101 + b"\r\n",  # http.client's limit
            httpx.RemoteProtocolError,
        ),
        (b"HTTP/1.1 200 OK\r\nX: " + b"y" * 70_000 + b"\r\n\r\n", httpx.RemoteProtocolError),
    ],
)
def test_a_broken_answer_is_a_protocol_error(
    raw_server: Any, reply: bytes | None, error: type[Exception]
) -> None:
    def answer(_request: bytes) -> bytes | None:
        return reply

    server = raw_server(answer)
    server.hang_up_after_answer = True
    with pytest.raises(error):
        send(server)


def test_a_slow_answer_is_a_read_timeout(raw_server: Any) -> None:
    release = threading.Event()

    def answer(_request: bytes) -> bytes | None:
        release.wait(10)
        return None

    server = raw_server(answer)
    try:
        with (
            httpx.Client(transport=PlainHTTPTransport(), timeout=0.2) as client,
            pytest.raises(httpx.ReadTimeout),
        ):
            client.get(server.url + "/x")
    finally:
        release.set()


def test_an_illegal_header_value_is_refused_before_sending(raw_server: Any) -> None:
    server = raw_server(lambda _request: ok())
    with pytest.raises(httpx.LocalProtocolError):
        send(server, headers={"X-Bad": "a\r\nInjected: 1"})
    assert server.received == []


def test_the_api_client_sends_its_requests_through_it() -> None:
    calls: list[str] = []

    def reply(request: Any) -> Reply:
        calls.append(request.path)
        return Reply(200, b'{"success": true, "data": [1]}', content_type="application/json")

    with CaptureServer(reply) as api, ApiClient(f"{api.base_url}/v1") as client:
        assert client.request("GET", "webhooks", auth=False).data == [1]
        assert client.request("GET", "webhooks", auth=False).data == [1]
    assert calls == ["/v1/webhooks", "/v1/webhooks"]


def test_nothing_listening_is_a_network_error_for_the_api_client() -> None:
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with (
        ApiClient(f"http://127.0.0.1:{port}/v1", max_retries=0, sleep=lambda _s: None) as client,
        pytest.raises(NetworkError),
    ):
        client.request("GET", "webhooks", auth=False)


def test_an_ipv6_literal_is_reached() -> None:
    try:
        listener = socket.create_server(("::1", 0), family=socket.AF_INET6)
    except OSError:
        pytest.skip("no IPv6 loopback here")
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            while b"\r\n\r\n" not in conn.recv(65536):
                pass
            conn.sendall(ok())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with httpx.Client(transport=PlainHTTPTransport()) as client:
            assert client.get(f"http://[::1]:{port}/x").json() == {"success": True, "data": 1}
    finally:
        listener.close()
        thread.join(5)


def test_an_international_host_is_connected_to_by_its_ascii_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tried: list[tuple[str, int]] = []

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        tried.append(address)
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(socket, "create_connection", create_connection)
    with (
        httpx.Client(transport=PlainHTTPTransport()) as client,
        pytest.raises(httpx.ConnectError),
    ):
        client.get("http://münchen.example:8080/x")
    assert tried == [("xn--mnchen-3ya.example", 8080)]
