"""The documented revoke (POST /v1/auth/revoke, the access token as the bearer, no body) against
the sandbox: the client's `revoke` is accepted and the token stops working."""

from __future__ import annotations

import httpx

from apimw_cli.api.auth import exchange, revoke
from apimw_cli.api.client import ApiClient
from apimw_cli.sandbox.server import RunningSandbox
from apimw_cli.settings import SANDBOX_API_KEY, SANDBOX_API_SECRET


def test_the_sandbox_accepts_the_documented_revoke(running_sandbox: RunningSandbox) -> None:
    with ApiClient(running_sandbox.base_url) as client:
        tokens = exchange(client, SANDBOX_API_KEY, SANDBOX_API_SECRET, now=0)
        assert revoke(client, tokens.access_token) is True
        # Revoked: the token no longer works; revoking it again raises nothing (the sandbox
        # answers 200, an API answering 401 makes it False).
        me = httpx.get(
            f"{running_sandbox.base_url}/auth/me",
            headers={"Authorization": f"Bearer {tokens.access_token}"},
        )
        assert me.status_code == 401
        revoke(client, tokens.access_token)
