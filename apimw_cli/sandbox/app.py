"""The sandbox's HTTP API (starlette), faithful to docs/apimw-api.md.

Every answer is an APIMW envelope, errors included (404, 405, bad JSON, oversized bodies), and
carries the rate-limit headers. Handlers do only quick SQLite work: deliveries run elsewhere.
"""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import json
import math
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from apimw_cli import catalog
from apimw_cli.sandbox import tokens
from apimw_cli.sandbox.clock import Clock
from apimw_cli.sandbox.config import SandboxConfig
from apimw_cli.sandbox.delivery import DeliveryWorker
from apimw_cli.sandbox.store import Store

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
MAX_MESSAGE = 4096
MAX_URL = 2048
MAX_DESCRIPTION = 500
WEBHOOK_FIELDS = frozenset({"url", "events", "secret", "active", "description"})
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
PERMISSIONS = ["webhooks:manage", "messages:send", "messages:read"]
STATUS_CODES = {
    400: "VALIDATION_ERROR",
    401: "INVALID_TOKEN",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "VALIDATION_ERROR",
    429: "RATE_LIMIT_EXCEEDED",
}


class Problem(Exception):
    """An error answer: becomes `{"success": false, "error": {...}}`."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})


def invalid(field_name: str, message: str) -> Problem:
    return Problem(400, "VALIDATION_ERROR", f"{field_name}: {message}")


def ok(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse({"success": True, "data": data}, status_code=status)


def error_response(problem: Problem) -> JSONResponse:
    body = {
        "success": False,
        "error": {"code": problem.code, "message": problem.message, **problem.extra},
    }
    return JSONResponse(body, status_code=problem.status, headers=problem.headers)


@dataclass
class Sandbox:
    """What the handlers share."""

    config: SandboxConfig
    store: Store
    worker: DeliveryWorker
    clock: Clock
    key: bytes = b""
    started: float = field(default_factory=time.time)


def sandbox_of(request: Request) -> Sandbox:
    state: Sandbox = request.app.state.sandbox
    return state


# --- request parsing -------------------------------------------------------------------------


async def read_json(request: Request) -> dict[str, Any]:
    """The body as a JSON object, refusing oversized, non-UTF-8 and malformed bodies."""
    limit = sandbox_of(request).config.max_body
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise invalid("body", f"larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise invalid("body", f"larger than {limit} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise invalid("body", "a JSON object is required")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid("body", "not valid UTF-8") from None
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        raise invalid(
            "body", f"malformed JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    if not isinstance(parsed, dict):
        raise invalid("body", "must be a JSON object")
    return parsed


def require_str(body: Mapping[str, Any], name: str, *, max_len: int | None = None) -> str:
    value = body.get(name)
    if value is None:
        raise invalid(name, "is required")
    if not isinstance(value, str):
        raise invalid(name, "must be a string")
    if not value.strip():
        raise invalid(name, "must not be empty")
    if max_len is not None and len(value) > max_len:
        raise invalid(name, f"must be at most {max_len} characters")
    return value


def optional(body: Mapping[str, Any], name: str, kind: type, what: str) -> Any:
    if name not in body or body[name] is None:
        return None
    value = body[name]
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise invalid(name, f"must be {what}")
    return value


def check_unknown(body: Mapping[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise invalid(unknown[0], f"unknown field (allowed: {', '.join(sorted(allowed))})")


def check_url(value: Any) -> str:
    if not isinstance(value, str):
        raise invalid("url", "must be a string")
    if len(value) > MAX_URL:
        raise invalid("url", f"must be at most {MAX_URL} characters")
    parts = urlsplit(value)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        raise invalid("url", "must be an absolute https:// URL")
    if parts.scheme == "http" and not _is_loopback(host):
        raise invalid(
            "url",
            "must use HTTPS (plain http is accepted only for localhost, 127.0.0.1 and [::1])",
        )
    return value


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_events(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise invalid("events", "must be a list of event types")
    if not value:
        raise invalid("events", "must not be empty")
    events: list[str] = []
    for item in value:
        if not isinstance(item, str):
            raise invalid("events", "must hold strings")
        if catalog.get(item) is None:
            guess = catalog.suggest(item)
            hint = f" (did you mean {guess!r}?)" if guess else ""
            raise invalid("events", f"unknown event type {item!r}{hint}")
        if item not in events:
            events.append(item)
    return events


def check_secret(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise invalid("secret", "must be a non-empty string")
    if len(value) > 256:
        raise invalid("secret", "must be at most 256 characters")
    return value


# --- authentication --------------------------------------------------------------------------


def authenticate(request: Request) -> tokens.Claims:
    sandbox = sandbox_of(request)
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(401, "INVALID_TOKEN", "missing bearer token in the Authorization header")
    try:
        claims = tokens.check(sandbox.key, token.strip(), now=sandbox.clock.now())
    except tokens.TokenError as exc:
        raise Problem(401, exc.code, exc.message) from None
    if sandbox.store.is_revoked(claims.jti):
        raise Problem(401, "REVOKED_TOKEN", "the access token has been revoked")
    return claims


def issue_tokens(sandbox: Sandbox) -> dict[str, Any]:
    now = sandbox.clock.now()
    access, _ = tokens.issue(sandbox.key, now=now, ttl=sandbox.config.token_ttl)
    refresh = tokens.new_refresh_token()
    sandbox.store.add_refresh_token(refresh, now + tokens.REFRESH_TTL)
    ttl = sandbox.config.token_ttl
    return {
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": int(ttl) if float(ttl).is_integer() else ttl,
        "refresh_token": refresh,
    }


async def auth_token(request: Request) -> Response:
    sandbox = sandbox_of(request)
    body = await read_json(request)
    check_unknown(body, frozenset({"api_key", "api_secret"}))
    key = require_str(body, "api_key")
    secret = require_str(body, "api_secret")
    import hmac

    good_key = hmac.compare_digest(key.encode(), sandbox.config.api_key.encode())
    good_secret = hmac.compare_digest(secret.encode(), sandbox.config.api_secret.encode())
    if not (good_key and good_secret):
        raise Problem(401, "INVALID_CREDENTIALS", "invalid API key or secret")
    return ok(issue_tokens(sandbox))


async def auth_refresh(request: Request) -> Response:
    sandbox = sandbox_of(request)
    body = await read_json(request)
    check_unknown(body, frozenset({"refresh_token"}))
    token = require_str(body, "refresh_token")
    if not sandbox.store.spend_refresh_token(token, sandbox.clock.now()):
        raise Problem(
            401, "INVALID_REFRESH_TOKEN", "the refresh token is unknown, expired or already used"
        )
    return ok(issue_tokens(sandbox))


async def auth_revoke(request: Request) -> Response:
    sandbox = sandbox_of(request)
    body = await read_json(request)
    check_unknown(body, frozenset({"token"}))
    token = require_str(body, "token")
    if token.startswith("rt_"):
        sandbox.store.spend_refresh_token(token, sandbox.clock.now())
    else:
        claims = tokens.unverified_claims(token)
        if claims is not None:
            sandbox.store.revoke_token(claims.jti, claims.exp)
    return ok({"revoked": True})


async def auth_me(request: Request) -> Response:
    authenticate(request)
    return ok(
        {
            "user": {
                "id": tokens.USER_ID,
                "email": "developer@sandbox.apimw.local",
                "name": "Sandbox Developer",
            },
            "tenant": {
                "id": tokens.TENANT_ID,
                "name": "APIMW Sandbox",
                "plan": "sandbox",
                "status": "active",
            },
            "permissions": PERMISSIONS,
        }
    )


# --- webhooks --------------------------------------------------------------------------------


def find_webhook(sandbox: Sandbox, webhook_id: str) -> dict[str, Any]:
    webhook = sandbox.store.get_webhook(webhook_id)
    if webhook is None:
        raise Problem(404, "NOT_FOUND", f"no webhook {webhook_id!r}")
    return webhook


async def create_webhook(request: Request) -> Response:
    sandbox = sandbox_of(request)
    authenticate(request)
    body = await read_json(request)
    check_unknown(body, WEBHOOK_FIELDS)
    if "url" not in body:
        raise invalid("url", "is required")
    url = check_url(body["url"])
    if "events" not in body:
        raise invalid("events", "is required")
    events = check_events(body["events"])
    secret = check_secret(body.get("secret"))
    active = optional(body, "active", bool, "true or false")
    description = optional(body, "description", str, "a string")
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise invalid("description", f"must be at most {MAX_DESCRIPTION} characters")
    webhook = sandbox.store.create_webhook(
        url=url,
        events=events,
        secret=secret,
        active=True if active is None else active,
        description=description,
        now=sandbox.clock.now(),
    )
    sandbox.worker.start_verification(webhook["id"], url, secret)
    return ok(webhook, status=201)


def _whole_number(request: Request, name: str, default: int, largest: int) -> int:
    raw = request.query_params.get(name, str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= largest:
        raise invalid(name, f"must be a whole number from 1 to {largest}")
    return int(raw)


async def list_webhooks(request: Request) -> Response:
    """A plain list, or with `page`/`per_page` the paginated shape the real API may use."""
    authenticate(request)
    webhooks = sandbox_of(request).store.list_webhooks()
    if "page" not in request.query_params and "per_page" not in request.query_params:
        return ok(webhooks)
    page = _whole_number(request, "page", 1, 1_000_000)
    per_page = _whole_number(request, "per_page", 20, 100)
    chunk = webhooks[(page - 1) * per_page : page * per_page]
    pagination = {
        "page": page,
        "per_page": per_page,
        "total": len(webhooks),
        "total_pages": max(1, -(-len(webhooks) // per_page)),
        "has_more": page * per_page < len(webhooks),
    }
    return ok({"webhooks": chunk, "pagination": pagination})


async def get_webhook(request: Request) -> Response:
    authenticate(request)
    return ok(find_webhook(sandbox_of(request), request.path_params["webhook_id"]))


async def update_webhook(request: Request) -> Response:
    sandbox = sandbox_of(request)
    authenticate(request)
    webhook = find_webhook(sandbox, request.path_params["webhook_id"])
    body = await read_json(request)
    check_unknown(body, WEBHOOK_FIELDS)
    changes: dict[str, Any] = {}
    if "url" in body:
        changes["url"] = check_url(body["url"])
    if "events" in body:
        changes["events"] = check_events(body["events"])
    if "secret" in body:
        changes["secret"] = check_secret(body["secret"])
    if "active" in body:
        active = optional(body, "active", bool, "true or false")
        if active is None:
            raise invalid("active", "must be true or false")
        changes["active"] = active
    if "description" in body:
        description = optional(body, "description", str, "a string")
        if description is not None and len(description) > MAX_DESCRIPTION:
            raise invalid("description", f"must be at most {MAX_DESCRIPTION} characters")
        changes["description"] = description
    sandbox.store.update_webhook(webhook["id"], changes, sandbox.clock.now())
    if "url" in changes and changes["url"] != webhook["url"]:
        sandbox.worker.start_verification(
            webhook["id"], changes["url"], sandbox.store.webhook_secret(webhook["id"])
        )
    if changes.get("active"):
        sandbox.worker.wake()  # held deliveries may go now
    return ok(find_webhook(sandbox, webhook["id"]))


async def delete_webhook(request: Request) -> Response:
    sandbox = sandbox_of(request)
    authenticate(request)
    webhook_id = request.path_params["webhook_id"]
    if not sandbox.store.delete_webhook(webhook_id):
        raise Problem(404, "NOT_FOUND", f"no webhook {webhook_id!r}")
    return ok({"id": webhook_id, "deleted": True})


async def list_deliveries(request: Request) -> Response:
    sandbox = sandbox_of(request)
    authenticate(request)
    webhook = find_webhook(sandbox, request.path_params["webhook_id"])
    limit = _whole_number(request, "limit", 100, 1000)
    return ok(sandbox.store.list_attempts(webhook["id"], limit))


# --- messages and sandbox-only event sources -------------------------------------------------


async def send_message(request: Request) -> Response:
    sandbox = sandbox_of(request)
    authenticate(request)
    body = await read_json(request)
    check_unknown(body, frozenset({"to", "message", "preview_url"}))
    to = body.get("to")
    if not isinstance(to, str) or not E164.match(to):
        raise Problem(
            400,
            "INVALID_PHONE_NUMBER",
            "to: must be an E.164 phone number like +14155550123",
        )
    text = require_str(body, "message", max_len=MAX_MESSAGE)
    optional(body, "preview_url", bool, "true or false")
    message = sandbox.worker.send_message(to, text)
    return ok(
        {
            "message_id": message["message_id"],
            "to": to,
            "status": "sent",
            "timestamp": message["timestamps"]["sent"],
        }
    )


async def get_message(request: Request) -> Response:
    sandbox = sandbox_of(request)
    authenticate(request)
    message = sandbox.store.get_message(request.path_params["message_id"])
    if message is None:
        raise Problem(404, "NOT_FOUND", f"no message {request.path_params['message_id']!r}")
    return ok(message)


async def sandbox_inbound(request: Request) -> Response:
    sandbox = sandbox_of(request)
    authenticate(request)
    body = await read_json(request)
    check_unknown(body, frozenset({"from", "text", "name"}))
    sender = body.get("from")
    if not isinstance(sender, str) or not E164.match(sender):
        raise Problem(400, "INVALID_PHONE_NUMBER", "from: must be an E.164 phone number")
    text = require_str(body, "text", max_len=MAX_MESSAGE)
    name = optional(body, "name", str, "a string") or "Sandbox Customer"
    data = {
        "message_id": catalog.message_id(),
        "from": sender,
        "message_type": "text",
        "text": text,
        "contact": {"name": name, "wa_id": sender.lstrip("+")},
    }
    event_id, count = sandbox.worker.emit("message.received", data)
    return ok({"event_id": event_id, "type": "message.received", "deliveries": count, "data": data})


async def sandbox_event(request: Request) -> Response:
    sandbox = sandbox_of(request)
    authenticate(request)
    body = await read_json(request)
    check_unknown(body, frozenset({"type", "data"}))
    event_type = require_str(body, "type")
    if catalog.get(event_type) is None:
        guess = catalog.suggest(event_type)
        raise invalid(
            "type",
            f"unknown event type {event_type!r}" + (f" (did you mean {guess!r}?)" if guess else ""),
        )
    override = optional(body, "data", dict, "an object") or {}
    data = catalog.deep_merge(catalog.sample_data(event_type), override)
    event_id, count = sandbox.worker.emit(event_type, data)
    return ok({"event_id": event_id, "type": event_type, "deliveries": count, "data": data})


async def health(request: Request) -> Response:
    sandbox = sandbox_of(request)
    return ok(
        {"status": "ok", "sandbox": True, "uptime_s": round(time.time() - sandbox.started, 1)}
    )


# --- errors, rate limits and the app ---------------------------------------------------------


async def on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return error_response(exc)


async def on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = STATUS_CODES.get(
        exc.status_code, "INTERNAL_ERROR" if exc.status_code >= 500 else "VALIDATION_ERROR"
    )
    message = {
        404: f"no such endpoint: {request.method} {request.url.path}",
        405: f"{request.method} is not allowed on {request.url.path}",
    }.get(exc.status_code, exc.detail)
    return error_response(Problem(exc.status_code, code, message, headers=exc.headers))


async def on_crash(request: Request, exc: Exception) -> Response:
    return error_response(
        Problem(500, "INTERNAL_ERROR", f"sandbox fault: {exc.__class__.__name__}")
    )


class RateLimit:
    """Fixed windows (a minute, as APIMW) per client; headers on every answer; 429 beyond."""

    def __init__(
        self,
        app: ASGIApp,
        limit: int,
        window: float,
        log: Callable[[str, dict[str, Any]], None] | None,
    ) -> None:
        self.app = app
        self.limit = limit
        self.window = window
        self.log = log
        self.windows: dict[str, tuple[float, int]] = {}

    def _client(self, scope: Scope) -> str:
        if any(name == b"authorization" for name, _ in scope.get("headers", [])):
            return "tenant"  # one tenant in the sandbox: all its tokens share the budget
        client = scope.get("client")
        return f"ip:{client[0]}" if client else "ip:?"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        now = time.time()
        limit = self.limit
        key = self._client(scope)
        window_start, count = self.windows.get(key, (now, 0))
        if now - window_start >= self.window:
            window_start, count = now, 0
        count += 1
        self.windows[key] = (window_start, count)
        reset = math.ceil(window_start + self.window)
        remaining = max(0, limit - count) if limit else 1_000_000
        headers = [
            (b"x-ratelimit-limit", str(limit or 1_000_000).encode()),
            (b"x-ratelimit-remaining", str(remaining).encode()),
            (b"x-ratelimit-reset", str(reset).encode()),
        ]
        status_seen = 0

        async def send_with_headers(message: Message) -> None:
            nonlocal status_seen
            if message["type"] == "http.response.start":
                status_seen = message["status"]
                message = {**message, "headers": [*message.get("headers", []), *headers]}
            await send(message)

        if limit and count > limit:
            retry_after = max(1, math.ceil(window_start + self.window - now))
            response = error_response(
                Problem(
                    429,
                    "RATE_LIMIT_EXCEEDED",
                    f"more than {limit} requests in a minute",
                    extra={"retry_after": retry_after},
                    headers={"Retry-After": str(retry_after)},
                )
            )
            await response(scope, receive, send_with_headers)
        else:
            await self.app(scope, receive, send_with_headers)
        if self.log is not None:
            self.log(
                "request",
                {
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status_seen,
                    "ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )


def create_app(config: SandboxConfig) -> Starlette:
    """The ASGI app; its lifespan opens the store and runs the delivery worker."""

    @asynccontextmanager
    async def lifespan(app: Starlette):  # type: ignore[no-untyped-def]
        store = Store(config.db_path())
        clock = Clock(config.time_scale)
        worker = DeliveryWorker(store, clock, timeout=config.delivery_timeout, log=config.log)
        sandbox = Sandbox(
            config=config, store=store, worker=worker, clock=clock, key=store.signing_key()
        )
        app.state.sandbox = sandbox
        worker.start()
        demo = None
        if config.demo:
            from apimw_cli.sandbox.demo import start_demo

            demo = start_demo(worker)
        # Everything loaded so far lives as long as the process: keep it out of the garbage
        # collector's full passes, which otherwise stall every thread for tens of milliseconds.
        gc.freeze()
        if config.on_ready is not None:
            config.on_ready()
        try:
            yield
        finally:
            if demo is not None:
                demo.cancel()
            await asyncio.to_thread(worker.stop)
            store.close()

    v1 = "/v1"
    routes = [
        Route(f"{v1}/auth/token", auth_token, methods=["POST"]),
        Route(f"{v1}/auth/refresh", auth_refresh, methods=["POST"]),
        Route(f"{v1}/auth/revoke", auth_revoke, methods=["POST"]),
        Route(f"{v1}/auth/me", auth_me, methods=["GET"]),
        Route(f"{v1}/webhooks", list_webhooks, methods=["GET"]),
        Route(f"{v1}/webhooks", create_webhook, methods=["POST"]),
        Route(f"{v1}/webhooks/{{webhook_id}}", get_webhook, methods=["GET"]),
        Route(f"{v1}/webhooks/{{webhook_id}}", update_webhook, methods=["PATCH"]),
        Route(f"{v1}/webhooks/{{webhook_id}}", delete_webhook, methods=["DELETE"]),
        Route(f"{v1}/webhooks/{{webhook_id}}/deliveries", list_deliveries, methods=["GET"]),
        Route(f"{v1}/whatsapp/messages/send", send_message, methods=["POST"]),
        Route(f"{v1}/whatsapp/messages/{{message_id}}", get_message, methods=["GET"]),
        Route(f"{v1}/sandbox/inbound", sandbox_inbound, methods=["POST"]),
        Route(f"{v1}/sandbox/events", sandbox_event, methods=["POST"]),
        Route(f"{v1}/sandbox/health", health, methods=["GET"]),
    ]
    handlers: Mapping[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        Problem: on_problem,
        HTTPException: on_http_exception,
        Exception: on_crash,
    }
    app = Starlette(routes=routes, exception_handlers=dict(handlers), lifespan=lifespan)
    app.add_middleware(
        RateLimit, limit=config.rate_limit, window=config.rate_window, log=config.log
    )
    return app
