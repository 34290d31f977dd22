"""What keeps the inspector's page to the person at this machine.

- DNS rebinding: a web page on evil.example can make its own name resolve to 127.0.0.1 and then
  read our answers as same-origin. Its requests still say `Host: evil.example:4040`, so every
  request whose Host is not one of ours is refused, before anything else looks at it.
- Cross-site requests: a page elsewhere can make the browser send a POST here (it cannot read the
  answer). Actions that send something (replay) or carry a signature (curl) need the per-run
  token, which only our page holds (in a meta tag), in a custom header: a cross-site request
  cannot set one without a CORS preflight, which we never grant. An `Origin` header, when
  present, must be our own.
- Untrusted content: every answer says nosniff, no framing, no referrer, no caching, and carries
  a strict Content-Security-Policy (scripts and styles from our own files only, no inline code),
  so even a mistake in the page could not run a script that came in an event's body.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["TOKEN_HEADER", "HostGuard", "action_refusal", "allowed_hosts"]

TOKEN_HEADER = "X-APIMW-Inspector-Token"

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = tuple(
    (name.encode("ascii"), value.encode("ascii"))
    for name, value in (
        ("cache-control", "no-store"),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("content-security-policy", CSP),
        ("cross-origin-opener-policy", "same-origin"),
        ("cross-origin-resource-policy", "same-origin"),
    )
)
_REPLACED = frozenset(name for name, _ in SECURITY_HEADERS)


def allowed_hosts(port: int) -> set[str]:
    """The Host values a browser sends for our own URL (and the loopback names for it)."""
    return {f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"}


class HostGuard:
    """ASGI middleware: refuses a request whose Host is not ours (421, plain text), and adds
    the security headers to every answer."""

    def __init__(self, app: ASGIApp, hosts: Iterable[str]) -> None:
        self.app = app
        self.hosts = frozenset(host.lower().encode("latin-1") for host in hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # websockets are off in the server; refuse them anyway
            return
        hosts = [value for name, value in scope["headers"] if name == b"host"]
        if len(hosts) != 1 or hosts[0].lower() not in self.hosts:
            await _refuse_host(send)
            return

        async def send_guarded(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() not in _REPLACED
                ]
                message = {**message, "headers": [*headers, *SECURITY_HEADERS]}
            await send(message)

        await self.app(scope, receive, send_guarded)


async def _refuse_host(send: Send) -> None:
    body = (
        b"apimw inspector: this server answers only to its own loopback address "
        b"(the Host header names another one)\n"
    )
    await send(
        {
            "type": "http.response.start",
            "status": 421,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode("ascii")),
                (b"connection", b"close"),
                *SECURITY_HEADERS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def action_refusal(request: Request, token: str) -> str | None:
    """Why `request` may not run an action (replay, curl), or None when it may."""
    given = request.headers.getlist(TOKEN_HEADER)
    if len(given) != 1:
        return f"this action needs the page's token (header {TOKEN_HEADER}): reload the page"
    # Bytes: compare_digest refuses str with non-ASCII characters, and a header may have them.
    if not hmac.compare_digest(given[0].encode("latin-1"), token.encode("ascii")):
        return "wrong inspector token: reload the page (the inspector restarted?)"
    origins = request.headers.getlist("origin")
    own = "http://" + request.headers.get("host", "")
    if len(origins) > 1 or (origins and origins[0].lower() != own.lower()):
        return "this action is only accepted from the inspector's own page (Origin differs)"
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return "this action is only accepted from the inspector's own page (cross-site request)"
    return None
