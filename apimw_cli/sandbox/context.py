"""What every handler shares (settings, store, worker, clock, signing key), and the bearer check."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from starlette.requests import Request

from apimw_cli.sandbox import tokens
from apimw_cli.sandbox.clock import Clock
from apimw_cli.sandbox.config import SandboxConfig
from apimw_cli.sandbox.envelopes import Problem
from apimw_cli.sandbox.store import Store
from apimw_cli.sandbox.worker import DeliveryWorker

V1 = "/v1"  # every route's prefix


@dataclass
class Sandbox:
    """What the handlers share; the app's lifespan makes it."""

    config: SandboxConfig
    store: Store
    worker: DeliveryWorker
    clock: Clock
    key: bytes = b""
    started: float = field(default_factory=time.time)


def sandbox_of(request: Request) -> Sandbox:
    state: Sandbox = request.app.state.sandbox
    return state


def authenticate(request: Request) -> Sandbox:
    """The sandbox, once the request's bearer token checks out; a 401 when the token is
    missing, bad, expired or revoked."""
    sandbox = sandbox_of(request)
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(401, "INVALID_TOKEN", "missing bearer token in the Authorization header")
    try:
        claims = tokens.check(sandbox.key, token.strip(), now=sandbox.clock.now())
    except tokens.TokenError as exc:
        raise Problem(401, exc.code, exc.message) from None
    if sandbox.store.tokens.is_revoked(claims.jti):
        raise Problem(401, "REVOKED_TOKEN", "the access token has been revoked")
    return sandbox
