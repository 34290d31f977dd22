"""A fake ngrok v3 agent for offline tests (stdlib only; see docs/ngrok-agent.md).

pyngrok runs it (through the per-test wrapper that `make_fake_agent` writes) as
`<wrapper> start --none --log stdout --config P [--authtoken T] [--region R]`. It:

- records its argv and pid in the directory named by FAKE_NGROK_DIR (argv.jsonl, pids);
- reads the authtoken from the `--config` YAML (`agent: authtoken: ...`) or `--authtoken`;
- binds its API on 127.0.0.1:0, then prints the three logfmt lines pyngrok waits for, flushed;
- serves GET/POST /api/endpoints, GET/DELETE /api/endpoints/<name> (DELETE answers 204);
- for each endpoint, listens on a new loopback port and relays each connection byte for byte
  to the upstream, trying every address its host resolves to (502 when none answers);
- exits when its parent dies, when the file `die` appears in its directory, or `die_after`
  seconds after start-up.

Modes come from mode.json in FAKE_NGROK_DIR (see tests/fake_ngrok/__init__.py):
`ok`, `silent` (never ready), `fail` (print `error_line` and exit 1), `exit` (exit 1 before
ready, without an error line).
Without an authtoken it refuses like the real agent (ERR_NGROK_4018); a token that is not in
`valid_authtokens` (when given) gets ERR_NGROK_107. Each API request is recorded in
requests.jsonl.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

DIR = Path(os.environ.get("FAKE_NGROK_DIR", "."))
STDOUT_LOCK = threading.Lock()

ERROR_EXIT_DELAY = 0.3  # seconds between an error line and the exit, as real ngrok

ERR_4018 = (
    "authentication failed: Usage of ngrok requires a verified account and authtoken.\\n\\n"
    "Sign up for an account: https://dashboard.ngrok.com/signup\\n"
    "Install your authtoken: https://dashboard.ngrok.com/get-started/your-authtoken\\r\\n\\r\\n"
    "ERR_NGROK_4018\\r\\n"
)
ERR_107 = (
    "authentication failed: The authtoken you specified is properly formed, but it is "
    "invalid.\\nYour authtoken: {authtoken}\\nThis usually happens when:\\n"
    "    - You reset your authtoken\\n"
    "Go to your ngrok dashboard and double check that your authtoken is correct:\\n"
    "https://dashboard.ngrok.com/get-started/your-authtoken\\r\\n\\r\\nERR_NGROK_107\\r\\n"
)


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def emit(line: str) -> None:
    with STDOUT_LOCK:
        try:
            sys.stdout.write(f"t={now()} {line}\n")
            sys.stdout.flush()
        except (BrokenPipeError, ValueError):
            pass


def error_line(err: str) -> str:
    return f'lvl=eror msg="session closing" obj=tunnels.session err="{err}"'


def record(name: str, data: Any) -> None:
    with (DIR / name).open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(data) + "\n")


def load_mode() -> dict[str, Any]:
    try:
        data = json.loads((DIR / "mode.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"mode": "ok"}
    assert isinstance(data, dict)
    return data


def option(argv: list[str], name: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def authtoken_from_config(path: str | None) -> str | None:
    """`authtoken:` under `agent:` in a v3 config (a tiny YAML reader, enough for our file)."""
    if not path:
        return None
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError:
        return None
    match = re.search(r"^\s+authtoken:\s*(.+?)\s*$", text, re.MULTILINE)
    if not match:
        return None
    raw = match.group(1)
    if raw.startswith('"'):
        value = json.loads(raw)
        return str(value)
    return raw.strip("'")


def exit_now(code: int) -> None:
    with STDOUT_LOCK:
        os._exit(code)


# --- watchdogs ---


def watch_parent_and_signals(parent: int, die_after: float | None, started: float) -> None:
    while True:
        if os.getppid() != parent:
            exit_now(0)  # orphaned: our parent died without killing us
        try:
            (DIR / "die").unlink()  # consumed, so that the next start of this agent lives
        except FileNotFoundError:
            pass
        else:
            exit_now(3)
        if die_after is not None and time.monotonic() - started >= die_after:
            exit_now(3)
        time.sleep(0.02)


# --- endpoints: a byte-for-byte relay per endpoint ---

BAD_GATEWAY_BODY = b"ERR_NGROK_8012: the upstream did not answer (fake ngrok)"
BAD_GATEWAY = (
    b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nConnection: close\r\n"
    b"Content-Length: " + str(len(BAD_GATEWAY_BODY)).encode() + b"\r\n\r\n" + BAD_GATEWAY_BODY
)


def connect_upstream(url: str) -> socket.socket | None:
    parts = urlsplit(url if "://" in url else f"http://{url}")
    host, port = parts.hostname or "localhost", parts.port or 80
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return None
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        sock.settimeout(2)
        try:
            sock.connect(address)
        except OSError:
            sock.close()
            continue
        sock.settimeout(None)
        return sock
    return None


def pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


def relay(client: socket.socket, upstream_url: str) -> None:
    with client:
        upstream = connect_upstream(upstream_url)
        if upstream is None:
            client.settimeout(1)
            try:
                client.recv(65536)  # the request head, so the client sees an answer
                client.sendall(BAD_GATEWAY)
            except OSError:
                pass
            return
        with upstream:
            back = threading.Thread(target=pump, args=(upstream, client), daemon=True)
            back.start()
            pump(client, upstream)
            back.join()


class Endpoint:
    def __init__(self, name: str, upstream_url: str, requested_url: str | None) -> None:
        self.name = name
        self.upstream_url = upstream_url
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        port = self.listener.getsockname()[1]
        self.url = requested_url or f"http://127.0.0.1:{port}"
        self.id = f"ep_{uuid.uuid4().hex[:24]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=relay, args=(client, self.upstream_url), daemon=True).start()

    def close(self) -> None:
        self.listener.close()

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "uri": f"/api/endpoints/{self.name}",
            "url": self.url,
            "public_url": self.url,
            "proto": urlsplit(self.url).scheme,
            "upstream": {"url": self.upstream_url, "protocol": "http1"},
        }


ENDPOINTS: dict[str, Endpoint] = {}
ENDPOINTS_LOCK = threading.Lock()


class Api(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # silent on stderr
        pass

    def _send(self, status: int, payload: Any = None) -> None:
        body = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        if payload is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _name(self) -> str | None:
        prefix = "/api/endpoints/"
        return self.path[len(prefix) :] if self.path.startswith(prefix) else None

    def do_GET(self) -> None:
        record("requests.jsonl", {"method": "GET", "path": self.path})
        with ENDPOINTS_LOCK:
            if self.path == "/api/endpoints":
                self._send(200, {"endpoints": [e.as_json() for e in ENDPOINTS.values()]})
                return
            name = self._name()
            endpoint = ENDPOINTS.get(name) if name else None
        if endpoint is None:
            self._send(404, {"error_code": 100, "status_code": 404, "msg": "not found"})
        else:
            self._send(200, endpoint.as_json())

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            data = json.loads(raw or b"{}")
        except ValueError:
            data = None
        record("requests.jsonl", {"method": "POST", "path": self.path, "body": data})
        if self.path != "/api/endpoints" or not isinstance(data, dict):
            self._send(400, {"error_code": 102, "status_code": 400, "msg": "invalid request"})
            return
        if "schemes" in data or "bind_tls" in data:  # v2 tunnel fields: the v3 API refuses them
            self._send(
                400,
                {
                    "error_code": 102,
                    "status_code": 400,
                    "msg": "invalid endpoint configuration",
                    "details": {"err": "unknown field 'schemes' for an endpoint"},
                },
            )
            return
        fail = load_mode().get("endpoint_error")
        if fail:
            self._send(
                502,
                {
                    "error_code": 103,
                    "status_code": 502,
                    "msg": "failed to start endpoint",
                    "details": {"err": fail},
                },
            )
            return
        upstream = data.get("upstream") or {}
        name = str(data.get("name") or f"endpoint-{uuid.uuid4()}")
        endpoint = Endpoint(
            name, str(upstream.get("url") or "http://localhost:80"), data.get("url")
        )
        with ENDPOINTS_LOCK:
            ENDPOINTS[name] = endpoint
        emit(
            f'lvl=info msg="started tunnel" obj=tunnels name={name} '
            f"addr={endpoint.upstream_url} url={endpoint.url}"
        )
        self._send(201, endpoint.as_json())

    def do_DELETE(self) -> None:
        record("requests.jsonl", {"method": "DELETE", "path": self.path})
        name = self._name()
        with ENDPOINTS_LOCK:
            endpoint = ENDPOINTS.pop(name, None) if name else None
        if endpoint is None:
            self._send(404, {"error_code": 100, "status_code": 404, "msg": "not found"})
            return
        endpoint.close()
        self._send(204)


def main(argv: list[str]) -> int:
    started = time.monotonic()
    parent = os.getppid()
    record("argv.jsonl", argv)
    record("pids", os.getpid())
    mode = load_mode()
    die_after = mode.get("die_after")
    threading.Thread(
        target=watch_parent_and_signals,
        args=(parent, float(die_after) if die_after is not None else None, started),
        daemon=True,
    ).start()

    kind = mode.get("mode", "ok")
    if kind == "silent":
        while True:
            time.sleep(3600)
    emit(f'lvl=info msg="open config file" path={option(argv, "--config")} err=nil')
    if kind == "exit":
        return 1
    token = option(argv, "--authtoken") or authtoken_from_config(option(argv, "--config"))
    # After its error line the real agent takes a moment to shut down. pyngrok stops reading
    # once the process has exited, so an agent that exits at once can lose that line to it
    # under load (a flaky test, never a real ngrok's behaviour).
    if kind == "fail":
        emit(str(mode["error_line"]).replace("{authtoken}", token or ""))
        time.sleep(ERROR_EXIT_DELAY)
        return 1
    if not token:
        emit(error_line(ERR_4018))
        time.sleep(ERROR_EXIT_DELAY)
        return 1
    valid = mode.get("valid_authtokens")
    if valid is not None and token not in valid:
        emit(error_line(ERR_107.replace("{authtoken}", token)))
        time.sleep(ERROR_EXIT_DELAY)
        return 1

    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    server.daemon_threads = True
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    emit(f'lvl=info msg="starting web service" obj=web addr=127.0.0.1:{port} allow_hosts=[]')
    region = option(argv, "--region") or "us"
    emit(f'lvl=info msg="client session established" obj=tunnels.session region={region}')
    emit('lvl=info msg="tunnel session started" obj=tunnels.session')
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
