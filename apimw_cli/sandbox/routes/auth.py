"""`/v1/auth/*`: tokens from the API key, refresh, revoke, and who the token belongs to."""

from __future__ import annotations

import hmac
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from apimw_cli.protocol import WEBHOOKS_PERMISSION
from apimw_cli.sandbox import tokens
from apimw_cli.sandbox.context import V1, Sandbox, authenticate, sandbox_of
from apimw_cli.sandbox.envelopes import Problem, ok
from apimw_cli.sandbox.validation import read_fields, require_str

# The names APIMW documents (auth-me): sending, templates, and managing webhooks.
PERMISSIONS = ["whatsapp:send", "whatsapp:templates", WEBHOOKS_PERMISSION]


def issue_tokens(sandbox: Sandbox) -> dict[str, Any]:
    """A new access token and a new single-use refresh token."""
    now = sandbox.clock.now()
    access, claims = tokens.issue(sandbox.key, now=now, ttl=sandbox.config.token_ttl)
    refresh = tokens.new_refresh_token()
    sandbox.store.tokens.add_refresh_token(refresh, now + tokens.REFRESH_TTL, access_jti=claims.jti)
    ttl = sandbox.config.token_ttl
    return {
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": int(ttl) if float(ttl).is_integer() else ttl,
        "refresh_token": refresh,
    }


async def auth_token(request: Request) -> Response:
    sandbox = sandbox_of(request)
    body = await read_fields(request, frozenset({"api_key", "api_secret"}))
    key = require_str(body, "api_key")
    secret = require_str(body, "api_secret")
    good_key = hmac.compare_digest(key.encode(), sandbox.config.api_key.encode())
    good_secret = hmac.compare_digest(secret.encode(), sandbox.config.api_secret.encode())
    if not (good_key and good_secret):
        raise Problem(401, "INVALID_CREDENTIALS", "Invalid API Key or Secret")  # the docs' words
    return ok(issue_tokens(sandbox))


async def auth_refresh(request: Request) -> Response:
    sandbox = sandbox_of(request)
    body = await read_fields(request, frozenset({"refresh_token"}))
    token = require_str(body, "refresh_token")
    if not sandbox.store.tokens.spend_refresh_token(token, sandbox.clock.now()):
        raise Problem(
            401, "INVALID_REFRESH_TOKEN", "the refresh token is unknown, expired or already used"
        )
    return ok(issue_tokens(sandbox))


async def auth_revoke(request: Request) -> Response:
    """Revoke the bearer access token, as APIMW documents revoke (no body), and the refresh
    token issued with it. Older clients name the token in a body, `{"token": ...}`, without a
    bearer: an access token or a refresh token; one this sandbox never issued is not an error."""
    sandbox = sandbox_of(request)
    body = await read_fields(request, frozenset({"token"}), body_optional=True)
    if "token" in body:
        _revoke_named(sandbox, require_str(body, "token"))
    else:
        claims = _bearer_claims(sandbox, request)
        sandbox.store.tokens.revoke(claims.jti, claims.exp)
    return ok({"revoked": True})


def _bearer_claims(sandbox: Sandbox, request: Request) -> tokens.Claims:
    """The bearer token's claims when we signed it, expired or already revoked included (it is
    then dead already: revoking it again succeeds)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(401, "INVALID_TOKEN", "send the access token to revoke as the bearer token")
    try:
        return tokens.verify(sandbox.key, token.strip())
    except tokens.TokenError as exc:
        raise Problem(401, exc.code, exc.message) from None


def _revoke_named(sandbox: Sandbox, token: str) -> None:
    if token.startswith("rt_"):
        sandbox.store.tokens.spend_refresh_token(token, sandbox.clock.now())
        return
    try:
        claims = tokens.verify(sandbox.key, token)
    except tokens.TokenError:
        return  # not one of ours: nothing to revoke
    sandbox.store.tokens.revoke(claims.jti, claims.exp)


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


ROUTES = [
    Route(f"{V1}/auth/token", auth_token, methods=["POST"]),
    Route(f"{V1}/auth/refresh", auth_refresh, methods=["POST"]),
    Route(f"{V1}/auth/revoke", auth_revoke, methods=["POST"]),
    Route(f"{V1}/auth/me", auth_me, methods=["GET"]),
]
