"""Auth endpoints of the sandbox: token, refresh, revoke, me, and the 401 codes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import httpx
import pytest

from apimw_cli.settings import SANDBOX_API_KEY, SANDBOX_API_SECRET
from tests.sandbox.support import (
    MakeSandbox,
    RunningSandboxLike,
    client,
    data_of,
    error_of,
    jwt_part,
    token_pair,
)
from tests.support.waiting import wait_for

CREDENTIALS = {"api_key": SANDBOX_API_KEY, "api_secret": SANDBOX_API_SECRET}


@pytest.fixture
def running_sandbox(module_sandbox: RunningSandboxLike) -> RunningSandboxLike:
    """The tests here only use their own tokens: one sandbox serves the module."""
    return module_sandbox


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_token_returns_documented_shape(anon: httpx.Client) -> None:
    data = data_of(anon.post("auth/token", json=CREDENTIALS))
    assert data["token_type"] == "Bearer"
    assert data["expires_in"] == 3600 and isinstance(data["expires_in"], int)
    assert data["refresh_token"].startswith("rt_")
    assert jwt_part(data["access_token"], 0)["alg"] == "HS256"
    exp = jwt_part(data["access_token"], 1)["exp"]
    assert abs(exp - (time.time() + 3600)) < 60


def test_token_ttl_sets_expires_in_and_exp(make_sandbox: MakeSandbox) -> None:
    running = make_sandbox(token_ttl=120.0)
    data = token_pair(running.base_url)
    assert data["expires_in"] == 120
    assert abs(jwt_part(data["access_token"], 1)["exp"] - (time.time() + 120)) < 10


@pytest.mark.parametrize(
    "body",
    [
        {"api_key": SANDBOX_API_KEY, "api_secret": "sk_test_wrong"},
        {"api_key": "ak_test_wrong", "api_secret": SANDBOX_API_SECRET},
    ],
    ids=["wrong-secret", "wrong-key"],
)
def test_wrong_credentials_are_rejected(anon: httpx.Client, body: dict[str, str]) -> None:
    error_of(anon.post("auth/token", json=body), 401, "INVALID_CREDENTIALS")


def test_access_token_works_for_me(running_sandbox: RunningSandboxLike) -> None:
    token = token_pair(running_sandbox.base_url)["access_token"]
    with client(running_sandbox.base_url, token) as sandbox_api:
        data_of(sandbox_api.get("auth/me"))


def test_me_describes_sandbox_user_and_tenant(sandbox_api: httpx.Client) -> None:
    data = data_of(sandbox_api.get("auth/me"))
    assert data["user"]["id"] == "usr_sandbox"
    assert data["tenant"]["id"] == "ten_sandbox"
    assert data["tenant"]["plan"] == "sandbox"
    assert data["tenant"]["status"] == "active"
    assert data["permissions"] == ["whatsapp:send", "whatsapp:templates", "webhooks:manage"]


def test_refresh_issues_new_working_pair(
    running_sandbox: RunningSandboxLike, anon: httpx.Client
) -> None:
    first = token_pair(running_sandbox.base_url)
    second = data_of(anon.post("auth/refresh", json={"refresh_token": first["refresh_token"]}))
    assert second["refresh_token"].startswith("rt_")
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["token_type"] == "Bearer"
    assert second["expires_in"] == 3600
    with client(running_sandbox.base_url, second["access_token"]) as sandbox_api:
        data_of(sandbox_api.get("auth/me"))


def test_refresh_token_is_single_use(
    running_sandbox: RunningSandboxLike, anon: httpx.Client
) -> None:
    refresh = token_pair(running_sandbox.base_url)["refresh_token"]
    data_of(anon.post("auth/refresh", json={"refresh_token": refresh}))
    error_of(
        anon.post("auth/refresh", json={"refresh_token": refresh}), 401, "INVALID_REFRESH_TOKEN"
    )


def test_unknown_refresh_token_is_rejected(anon: httpx.Client) -> None:
    error_of(
        anon.post("auth/refresh", json={"refresh_token": "rt_unknown"}),
        401,
        "INVALID_REFRESH_TOKEN",
    )


def test_revoked_access_token_gets_revoked_token(running_sandbox: RunningSandboxLike) -> None:
    token = token_pair(running_sandbox.base_url)["access_token"]
    with client(running_sandbox.base_url, token) as sandbox_api:
        assert data_of(sandbox_api.post("auth/revoke", json={"token": token})) == {"revoked": True}
        error_of(sandbox_api.get("auth/me"), 401, "REVOKED_TOKEN")


def test_revoked_refresh_token_cannot_refresh(
    running_sandbox: RunningSandboxLike, sandbox_api: httpx.Client, anon: httpx.Client
) -> None:
    refresh = token_pair(running_sandbox.base_url)["refresh_token"]
    assert data_of(sandbox_api.post("auth/revoke", json={"token": refresh})) == {"revoked": True}
    error_of(
        anon.post("auth/refresh", json={"refresh_token": refresh}), 401, "INVALID_REFRESH_TOKEN"
    )


def test_expired_token_gets_expired_token_then_refresh_works(make_sandbox: MakeSandbox) -> None:
    # 2 s rather than 1: a JWT exp in whole seconds may leave a 1 s token under a second to live.
    running = make_sandbox(token_ttl=2.0)
    pair = token_pair(running.base_url)
    with client(running.base_url, pair["access_token"]) as sandbox_api:
        data_of(sandbox_api.get("auth/me"))
        expired = wait_for(
            lambda: r if (r := sandbox_api.get("auth/me")).status_code != 200 else None,
            timeout=6.0,
            interval=0.1,
            what="the access token to expire",
        )
        error_of(expired, 401, "EXPIRED_TOKEN")
        fresh = data_of(
            sandbox_api.post("auth/refresh", json={"refresh_token": pair["refresh_token"]})
        )
    with client(running.base_url, fresh["access_token"]) as sandbox_api:
        data_of(sandbox_api.get("auth/me"))


def _forged_jwt() -> str:
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = {"sub": "usr_sandbox", "exp": int(time.time()) + 3600}
    payload = _b64(json.dumps(claims).encode())
    signature = hmac.new(b"not-the-key", f"{header}.{payload}".encode(), hashlib.sha256)
    return f"{header}.{payload}.{_b64(signature.digest())}"


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer garbage", "Bearer a.b.c", "Basic dXNlcjpwYXNz", "FORGED"],
)
def test_missing_or_garbled_bearer_gets_invalid_token(
    anon: httpx.Client, authorization: str | None
) -> None:
    headers = {}
    if authorization == "FORGED":
        headers["Authorization"] = f"Bearer {_forged_jwt()}"
    elif authorization is not None:
        headers["Authorization"] = authorization
    error_of(anon.get("auth/me", headers=headers), 401, "INVALID_TOKEN")
