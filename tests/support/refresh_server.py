"""A real HTTP auth server whose refresh tokens work once, shared by the token-race tests
(tests/test_auth.py, tests/test_token_recovery.py); its fixture is `refresh_server`."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class SingleUseRefreshServer(ThreadingHTTPServer):
    """Real HTTP: refresh tokens work once; a reused one is counted as a lost race."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.valid_refresh = {"rt_start"}
        self.valid_access: set[str] = set()
        self.refreshes = 0
        self.reused = 0
        self.exchanges = 0
        self.counter = 0

    def issue(self) -> dict[str, object]:
        self.counter += 1
        access, refresh = f"at_p{self.counter}", f"rt_p{self.counter}"
        self.valid_access.add(access)
        self.valid_refresh.add(refresh)
        return {"access_token": access, "refresh_token": refresh, "expires_in": 3600}


class _Handler(BaseHTTPRequestHandler):
    server: SingleUseRefreshServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: object) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path == "/v1/auth/refresh":
            time.sleep(0.3)  # widen the window in which a racing process would reuse it
            with self.server.lock:
                self.server.refreshes += 1
                if body["refresh_token"] not in self.server.valid_refresh:
                    self.server.reused += 1
                    self._send(401, {"success": False, "error": {"code": "INVALID_REFRESH_TOKEN"}})
                    return
                self.server.valid_refresh.discard(body["refresh_token"])
                self._send(200, {"success": True, "data": self.server.issue()})
        elif self.path == "/v1/auth/token":
            with self.server.lock:
                self.server.exchanges += 1
                self._send(200, {"success": True, "data": self.server.issue()})
        else:
            self._send(404, {"success": False, "error": {"code": "NOT_FOUND"}})

    def do_GET(self) -> None:
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in self.server.valid_access:
            self._send(401, {"success": False, "error": {"code": "INVALID_TOKEN"}})
            return
        me = {"user": {"email": "dev@example.com"}, "tenant": {}, "permissions": []}
        self._send(200, {"success": True, "data": me})


@pytest.fixture
def refresh_server() -> Iterator[SingleUseRefreshServer]:
    server = SingleUseRefreshServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
