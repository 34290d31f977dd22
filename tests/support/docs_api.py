"""A fake APIMW that answers only as docs.apimw.com shows (docs/apimw-api.md), separate from the
sandbox: it shares no code with apimw_cli.sandbox, so a wrong assumption the sandbox and the
client share cannot pass here.

What it answers, and with what:
- POST /v1/auth/token, /v1/auth/refresh, GET /v1/auth/me: the docs' example bodies, literally
  (the access token is the docs' truncated "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9...").
- POST /v1/webhooks: the docs' 201 example, with the request's url, events and active, a new
  `whk_` id and a `created_at` in the docs' format (a real API echoes what it stored).
- GET /v1/webhooks: APIMW documents no list of webhooks; this answers in the one pagination
  shape the docs show (the templates list): `{"webhooks": [...], "pagination": {"total",
  "page", "per_page"}}`, per_page capped at 20, each webhook with the docs' field set (id, url,
  events, active, created_at). 45 webhooks are there to begin with.
- DELETE /v1/webhooks/{id}: undocumented; 204 without a body (our choice, so pruning works).
- POST /v1/auth/revoke: the docs show no body either way; the bearer is revoked, 200 with
  `{"success": true}` (our choice).
- POST /v1/whatsapp/messages/send and GET /v1/whatsapp/messages/{message_id}: the docs'
  examples (the send echoes `to`); the status is known for the example's message id only.
- Anything else: 404 in the docs' error envelope. Every answer carries the docs' rate-limit
  headers.

`strict=True` rejects any request field the docs do not list with 400 VALIDATION_ERROR; the
lenient default drops such fields silently. Use `transport()` in-process (httpx.MockTransport)
or `serve()` for a real HTTP server (an `apimw listen` child process talks to it).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote

import httpx

from tests.support import docs_examples

API_KEY = "ak_live_docs0000000000000001"
API_SECRET = "sk_live_docs0000000000000001"

# The docs' literal example values (tests/support/docs_examples.py holds the bodies).
ACCESS_TOKEN = docs_examples.AUTH_TOKEN["data"]["access_token"]
REFRESH_TOKEN = docs_examples.AUTH_TOKEN["data"]["refresh_token"]
REFRESHED_ACCESS_TOKEN = docs_examples.AUTH_REFRESH["data"]["access_token"]
REFRESHED_REFRESH_TOKEN = docs_examples.AUTH_REFRESH["data"]["refresh_token"]
MESSAGE_ID = docs_examples.MESSAGE_STATUS["data"]["message_id"]
EXAMPLE_TIME = docs_examples.MESSAGE_SEND["data"]["timestamp"]
ME = docs_examples.AUTH_ME["data"]
RATE_LIMIT_HEADERS = docs_examples.RATE_LIMIT_HEADERS
PAGE_CAP = 20
SEEDED = 45

# The request fields each documented endpoint lists.
FIELDS = {
    "auth/token": {"api_key", "api_secret"},
    "auth/refresh": {"refresh_token"},
    "webhooks": {"url", "events", "secret", "active"},
    "whatsapp/messages/send": {"to", "message", "preview_url"},
}
E164 = re.compile(r"\+[1-9]\d{6,14}")


def _answer(status: int, body: Any = None) -> httpx.Response:
    if body is None:
        return httpx.Response(status, headers=RATE_LIMIT_HEADERS)
    return httpx.Response(status, json=body, headers=RATE_LIMIT_HEADERS)


def ok(data: Any, status: int = 200) -> httpx.Response:
    return _answer(status, {"success": True, "data": data})


def error(status: int, code: str, message: str) -> httpx.Response:
    """The docs' error envelope."""
    return _answer(status, {"success": False, "error": {"code": code, "message": message}})


def docs_time(at: float | None = None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


def seeded_webhooks(count: int = SEEDED) -> list[dict[str, Any]]:
    return [
        {
            "id": f"whk_docs{n:03d}xyz",
            "url": f"https://yourapp.com/webhooks/apimw/{n}",
            "events": ["message.sent", "message.delivered", "message.read", "message.received"],
            "active": True,
            "created_at": EXAMPLE_TIME,
        }
        for n in range(count)
    ]


@dataclass
class DocsApi:
    """The fake's state; `requests` holds every request, in order, for tests to inspect."""

    strict: bool = False
    webhooks: list[dict[str, Any]] = field(default_factory=seeded_webhooks)
    requests: list[httpx.Request] = field(default_factory=list)
    valid_access: set[str] = field(default_factory=set)
    valid_refresh: set[str] = field(default_factory=set)
    revoked: list[str] = field(default_factory=list)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def bodies(self, method: str, path: str) -> list[dict[str, Any]]:
        """The JSON bodies of the requests sent to `method /v1/path`."""
        return [
            json.loads(r.content)
            for r in self.requests
            if r.method == method and r.url.path == f"/v1/{path}" and r.content
        ]

    def handle(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests.append(request)
            return self._route(request)

    def _route(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/v1/").rstrip("/")
        method = request.method
        if method == "POST" and path in ("auth/token", "auth/refresh"):
            body = self._body(request, path)
            return body if isinstance(body, httpx.Response) else self._tokens(path, body)
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if bearer not in self.valid_access:
            code = "REVOKED_TOKEN" if bearer in self.revoked else "INVALID_TOKEN"
            return error(401, code, "The access token is invalid")
        if (method, path) == ("POST", "auth/revoke"):
            self.valid_access.discard(bearer)
            self.revoked.append(bearer)
            return _answer(200, {"success": True})
        if (method, path) == ("GET", "auth/me"):
            return ok(ME)
        if path == "webhooks":
            return self._webhooks(request)
        if method == "DELETE" and path.startswith("webhooks/"):
            return self._delete(unquote(path.removeprefix("webhooks/")))
        if (method, path) == ("POST", "whatsapp/messages/send"):
            return self._send(request)
        if method == "GET" and path.startswith("whatsapp/messages/"):
            return self._status(unquote(path.removeprefix("whatsapp/messages/")))
        return error(404, "NOT_FOUND", "The requested resource was not found")

    def _body(self, request: httpx.Request, path: str) -> dict[str, Any] | httpx.Response:
        """The request's documented fields; an unknown one is an error when strict."""
        try:
            body = json.loads(request.content or b"null")
        except ValueError:
            return error(400, "VALIDATION_ERROR", "The request body is not valid JSON")
        if not isinstance(body, dict):
            return error(400, "VALIDATION_ERROR", "The request body must be a JSON object")
        unknown = sorted(set(body) - FIELDS[path])
        if unknown and self.strict:
            return error(400, "VALIDATION_ERROR", f"Unknown field: {unknown[0]}")
        return {k: v for k, v in body.items() if k in FIELDS[path]}

    def _tokens(self, path: str, body: dict[str, Any]) -> httpx.Response:
        if path == "auth/token":
            if (body.get("api_key"), body.get("api_secret")) != (API_KEY, API_SECRET):
                return error(401, "INVALID_CREDENTIALS", "Invalid API Key or Secret")
            access, refresh = ACCESS_TOKEN, REFRESH_TOKEN
        else:
            if body.get("refresh_token") not in self.valid_refresh:
                return error(401, "INVALID_REFRESH_TOKEN", "Refresh token is invalid or expired")
            self.valid_refresh.discard(body["refresh_token"])  # single use
            access, refresh = REFRESHED_ACCESS_TOKEN, REFRESHED_REFRESH_TOKEN
        self.valid_access.add(access)
        self.valid_refresh.add(refresh)
        return ok(
            {
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": 3600,
                "refresh_token": refresh,
            }
        )

    def _webhooks(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            query = {k: v[-1] for k, v in parse_qs(request.url.query.decode()).items()}
            try:
                page = max(1, int(query.get("page", "1")))
                per_page = min(PAGE_CAP, max(1, int(query.get("per_page", str(PAGE_CAP)))))
            except ValueError:
                return error(400, "VALIDATION_ERROR", "page and per_page must be integers")
            items = self.webhooks[(page - 1) * per_page : page * per_page]
            pagination = {"total": len(self.webhooks), "page": page, "per_page": per_page}
            return ok({"webhooks": items, "pagination": pagination})
        if request.method != "POST":
            return error(405, "METHOD_NOT_ALLOWED", "Method not allowed")
        body = self._body(request, "webhooks")
        if isinstance(body, httpx.Response):
            return body
        url, events = body.get("url"), body.get("events")
        if not isinstance(url, str) or not url:
            return error(400, "VALIDATION_ERROR", "url is required")
        if not isinstance(events, list) or not events:
            return error(400, "VALIDATION_ERROR", "events is required")
        webhook = {
            "id": f"whk_{next(self._ids):03d}abc123xyz",
            "url": url,
            "events": events,
            "active": body.get("active", True),
            "created_at": docs_time(),
        }
        self.webhooks.append(webhook)
        return ok(webhook, status=201)

    def _delete(self, webhook_id: str) -> httpx.Response:
        for webhook in self.webhooks:
            if webhook["id"] == webhook_id:
                self.webhooks.remove(webhook)
                return _answer(204)
        return error(404, "NOT_FOUND", "The requested resource was not found")

    def _send(self, request: httpx.Request) -> httpx.Response:
        body = self._body(request, "whatsapp/messages/send")
        if isinstance(body, httpx.Response):
            return body
        to = body.get("to")
        if not isinstance(to, str) or not E164.fullmatch(to):
            return error(400, "INVALID_PHONE_NUMBER", "The phone number format is invalid")
        if not isinstance(body.get("message"), str) or not body["message"]:
            return error(400, "VALIDATION_ERROR", "message is required")
        return ok({"message_id": MESSAGE_ID, "to": to, "status": "sent", "timestamp": EXAMPLE_TIME})

    def _status(self, message_id: str) -> httpx.Response:
        if message_id != MESSAGE_ID:
            return error(404, "NOT_FOUND", "The requested resource was not found")
        return ok(docs_examples.MESSAGE_STATUS["data"])

    @contextmanager
    def serve(self) -> Iterator[str]:
        """Serve over HTTP on 127.0.0.1; yields the API base URL (`http://127.0.0.1:PORT/v1`)."""
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = httpx.Request(
                    self.command,
                    f"http://{self.headers.get('Host', 'localhost')}{self.path}",
                    headers=dict(self.headers.items()),
                    content=self.rfile.read(length) if length else b"",
                )
                response = api.handle(request)
                content = response.read()
                self.send_response(response.status_code)
                for name, value in response.headers.items():
                    if name.lower() not in ("content-length", "transfer-encoding"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_DELETE = do_PATCH = do_PUT = _any

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, name="docs-api", daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/v1"
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
