"""A loopback HTTP/1.1 endpoint that keeps each request exactly as it arrived: the method, the
request target, the header lines' bytes in order, and the body (for tests that compare bytes)."""

from __future__ import annotations

import socketserver
import threading
from dataclasses import dataclass

from tests.support.waiting import wait_for


@dataclass(frozen=True)
class RawHit:
    method: bytes
    target: bytes
    headers: list[tuple[bytes, bytes]]  # names in their own case, values as sent
    body: bytes

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


class RawCapture:
    """Answers every request `reply` (raw bytes) and closes the connection."""

    def __init__(self, reply: bytes = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok") -> None:
        self.hits: list[RawHit] = []
        self.reply = reply
        lock = threading.Lock()
        owner = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                method, _, rest = self.rfile.readline(1 << 20).rstrip(b"\r\n").partition(b" ")
                target = rest.rpartition(b" ")[0]
                headers: list[tuple[bytes, bytes]] = []
                while (line := self.rfile.readline(1 << 20)) not in (b"\r\n", b"\n", b""):
                    name, _, value = line.rstrip(b"\r\n").partition(b":")
                    headers.append((name, value.strip(b" \t")))
                lengths = [v for k, v in headers if k.lower() == b"content-length"]
                body = self.rfile.read(int(lengths[0])) if lengths else b""
                with lock:
                    owner.hits.append(RawHit(method, target, headers, body))
                self.wfile.write(owner.reply)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), daemon=True
        )

    def wait(self, count: int = 1) -> list[RawHit]:
        return wait_for(
            lambda: self.hits if len(self.hits) >= count else None, 10, f"{count} requests"
        )

    def __enter__(self) -> RawCapture:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
