"""Helpers shared by the sandbox tests: polling, envelopes, a recording webhook receiver.

Everything here talks to the sandbox over real HTTP and knows it only through its contract
(apimw_cli/sandbox/SPEC.md and docs/apimw-api.md).
"""

from __future__ import annotations

import base64
import json
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, Protocol, TypeVar

import httpx

from apimw_cli.settings import SANDBOX_API_KEY, SANDBOX_API_SECRET

T = TypeVar("T")

VERIFICATION = "webhook.verification"
WEBHOOK_FIELDS = frozenset(
    {
        "id",
        "url",
        "events",
        "active",
        "created_at",
        "updated_at",
        "description",
        "verified",
        "verification_error",
        "failure_count",
        "disabled_reason",
        "last_delivery_at",
        "last_delivery_status",
    }
)
DELIVERY_FIELDS = frozenset(
    {
        "id",
        "event_id",
        "event_type",
        "attempt",
        "status_code",
        "error",
        "duration_ms",
        "delivered_at",
        "next_retry_at",
    }
)
# The documented retry gaps (seconds) between attempts 1-2, 2-3, 3-4, 4-5, before time_scale.
RETRY_GAPS = (60.0, 300.0, 1800.0, 7200.0)


class RunningSandboxLike(Protocol):
    """What SPEC.md promises run_in_thread yields."""

    @property
    def base_url(self) -> str: ...

    @property
    def port(self) -> int: ...


MakeSandbox = Callable[..., RunningSandboxLike]


# --------------------------------------------------------------------------- polling


def wait_for(
    predicate: Callable[[], T | None],
    timeout: float = 5.0,
    interval: float = 0.01,
    message: str = "condition",
) -> T:
    """Poll `predicate` until it returns something truthy and return it; fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for: {message}")
        time.sleep(interval)


# --------------------------------------------------------------------------- envelopes


def data_of(response: httpx.Response, status: int = 200) -> Any:
    """The `data` of a success envelope, checking the status code."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    body = response.json()
    assert body["success"] is True, body
    return body["data"]


def error_of(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The `error` of an error envelope, checking status, code and the envelope's shape."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers.get("content-type", "").startswith("application/json"), (
        response.headers.get("content-type")
    )
    body = response.json()
    assert body["success"] is False, body
    error = body["error"]
    assert isinstance(error, dict), body
    assert error["code"] == code, body
    assert isinstance(error["message"], str) and error["message"], body
    return error


def assert_names_field(error: dict[str, Any], name: str) -> None:
    """SPEC: VALIDATION_ERROR messages start with the field name ("url: ...")."""
    message = error["message"]
    assert isinstance(message, str)
    assert message.startswith(name), f"message should start with {name!r}: {message!r}"


def parse_time(value: object) -> datetime:
    assert isinstance(value, str), value
    return datetime.fromisoformat(value)


def jwt_part(token: str, index: int) -> dict[str, Any]:
    part = token.split(".")[index]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


# --------------------------------------------------------------------------- API helpers

# Everything here is plain http on loopback; one shared context saves httpx ~60 ms per client.
TLS = ssl.create_default_context()


def token_pair(base_url: str) -> dict[str, Any]:
    with httpx.Client(base_url=base_url, timeout=10.0, verify=TLS) as client:
        response = client.post(
            "auth/token", json={"api_key": SANDBOX_API_KEY, "api_secret": SANDBOX_API_SECRET}
        )
        pair: dict[str, Any] = data_of(response)
        return pair


def client(base_url: str, token: str | None = None, timeout: float = 10.0) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=base_url, headers=headers, timeout=timeout, verify=TLS)


def create_webhook(
    api: httpx.Client, url: str, events: list[str] | None = None, **fields: Any
) -> dict[str, Any]:
    body = {"url": url, "events": events or ["message.sent"], **fields}
    created: dict[str, Any] = data_of(api.post("webhooks", json=body), 201)
    return created


def get_webhook(api: httpx.Client, webhook_id: str) -> dict[str, Any]:
    webhook: dict[str, Any] = data_of(api.get(f"webhooks/{webhook_id}"))
    return webhook


def wait_verified(api: httpx.Client, webhook_id: str, timeout: float = 10.0) -> dict[str, Any]:
    """The webhook once its verification is no longer pending (`verified` not null)."""

    def done() -> dict[str, Any] | None:
        webhook = get_webhook(api, webhook_id)
        return webhook if webhook["verified"] is not None else None

    return wait_for(done, timeout, 0.02, f"verification of {webhook_id}")


def deliveries_of(api: httpx.Client, webhook_id: str) -> list[dict[str, Any]]:
    attempts: list[dict[str, Any]] = data_of(api.get(f"webhooks/{webhook_id}/deliveries"))
    return attempts


def emit(api: httpx.Client, event_type: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"type": event_type}
    if data is not None:
        body["data"] = data
    answer: dict[str, Any] = data_of(api.post("sandbox/events", json=body))
    return answer


# --------------------------------------------------------------------------- receiver


@dataclass(frozen=True)
class Recorded:
    """One request received by a Receiver."""

    method: str
    path: str
    headers: dict[str, str]  # lowercased names
    body: bytes
    time: float  # time.monotonic() at arrival

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def event_type(self) -> str | None:
        try:
            value = self.json()
        except ValueError:
            return None
        kind = value.get("type") if isinstance(value, dict) else None
        return kind if isinstance(kind, str) else None

    @property
    def is_verification(self) -> bool:
        return self.event_type == VERIFICATION

    @property
    def delivery_id(self) -> str | None:
        return self.header("X-APIMW-Delivery")


MakeApi = Callable[[RunningSandboxLike], httpx.Client]


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b"ok"
    content_type: str = "text/plain; charset=utf-8"
    delay: float = 0.0


ChallengeMode = Literal["text", "json", "wrong", "like_delivery"]


@dataclass
class Behaviour:
    """How a Receiver answers. `handler` wins when it returns a Reply; then the challenge rule
    (for webhook.verification requests); then status/delay/body for everything else."""

    status: int = 200
    delay: float = 0.0
    body: bytes = b"ok"
    challenge: ChallengeMode = "text"
    handler: Callable[[Recorded], Reply | None] | None = None

    def reply(self, request: Recorded) -> Reply:
        if self.handler is not None:
            custom = self.handler(request)
            if custom is not None:
                return custom
        if request.is_verification and self.challenge != "like_delivery":
            challenge = str(request.json().get("challenge", ""))
            if self.challenge == "text":
                return Reply(200, challenge.encode())
            if self.challenge == "json":
                body = json.dumps({"challenge": challenge}).encode()
                return Reply(200, body, "application/json")
            return Reply(200, b"not-the-challenge")
        return Reply(self.status, self.body, delay=self.delay)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: Receiver

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client hanging up on a slow answer is expected here


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _serve(self) -> None:
        owner = self.server.owner
        arrived = time.monotonic()
        request = Recorded(
            method=self.command,
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=self._read_body(),
            time=arrived,
        )
        owner._record(request)
        reply = owner.behaviour.reply(request)
        if reply.delay and owner._stopping.wait(reply.delay):
            return  # shutting down: drop the connection
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if reply.body and reply.status not in (204, 304):
                self.wfile.write(reply.body)
        except OSError:
            pass  # the sender gave up (timeout): nothing to answer to

    do_POST = do_GET = do_PUT = do_PATCH = do_DELETE = _serve


class Receiver:
    """A webhook endpoint on 127.0.0.1:0 that records every request and answers per `behaviour`."""

    def __init__(self, behaviour: Behaviour | None = None, path: str = "/hook") -> None:
        self.behaviour = behaviour or Behaviour()
        self.path = path
        self._lock = threading.Lock()
        self._requests: list[Recorded] = []
        self._stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def _record(self, request: Recorded) -> None:
        with self._lock:
            self._requests.append(request)

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._requests)

    def verifications(self) -> list[Recorded]:
        return [r for r in self.requests if r.is_verification]

    def deliveries(self) -> list[Recorded]:
        return [r for r in self.requests if not r.is_verification]

    def wait_deliveries(self, count: int, timeout: float = 10.0) -> list[Recorded]:
        """Wait until at least `count` (non-verification) requests arrived; return them all."""
        return wait_for(
            lambda: found if len(found := self.deliveries()) >= count else None,
            timeout,
            message=f"{count} deliveries at {self.url} (got {len(self.deliveries())})",
        )

    def wait_verifications(self, count: int = 1, timeout: float = 10.0) -> list[Recorded]:
        return wait_for(
            lambda: found if len(found := self.verifications()) >= count else None,
            timeout,
            message=f"{count} verification requests at {self.url}",
        )

    def close(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


MakeReceiver = Callable[..., Receiver]
