"""Recovering from an access token the API no longer accepts (issue 12).

A cached token dies early when the sandbox restarts in memory or is reset (it signs with a new
key), or when the token is revoked. The client must log in again with the stored key and secret
and send the request once more, silently, once; a second refusal is the error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from apimw_cli.api.auth import Authenticator, whoami
from apimw_cli.api.client import TOKEN_REJECTED, ApiClient
from apimw_cli.errors import AuthenticationError, ExitCode
from apimw_cli.models import TokenSet
from apimw_cli.sandbox.server import SandboxConfig, run_in_thread
from apimw_cli.settings import (
    ENV_API_KEY,
    ENV_API_SECRET,
    ENV_TOKEN,
    SANDBOX_API_KEY,
    SANDBOX_API_SECRET,
    Settings,
    TokenStore,
)
from tests.fakeapi import API_KEY, API_SECRET, BASE, FakeApi, envelope, error
from tests.support.cli import run
from tests.support.refresh_server import SingleUseRefreshServer
from tests.test_auth import Clock

ENV = {ENV_API_KEY: API_KEY, ENV_API_SECRET: API_SECRET}
CODES = sorted(TOKEN_REJECTED)


@pytest.fixture
def fake_api() -> FakeApi:
    return FakeApi()


@pytest.fixture
def store(tmp_path: Path) -> TokenStore:
    return TokenStore(tmp_path / "tokens" / "default.json")


def authenticated(api: FakeApi, store: TokenStore, notes: list[str] | None = None) -> ApiClient:
    return ApiClient(
        BASE,
        authenticator=lambda client: Authenticator(
            client,
            api_key=API_KEY,
            api_secret=API_SECRET,
            store=store,
            clock=Clock(),
            note=None if notes is None else notes.append,
        ),
        transport=api.transport(),
        sleep=lambda _s: None,
    )


def key_and_secret_client(api: FakeApi) -> ApiClient:
    """A client logging in with the key and secret, without a token cache."""
    return ApiClient(
        BASE,
        authenticator=lambda client: Authenticator(client, api_key=API_KEY, api_secret=API_SECRET),
        transport=api.transport(),
        sleep=lambda _s: None,
    )


def bearers(api: FakeApi, route: str) -> list[str]:
    method, path = route.split(" ", 1)
    return [
        r.headers.get("Authorization", "")
        for r in api.requests
        if r.method == method and r.url.path == f"/v1/{path}"
    ]


def test_the_codes_that_renew_are_the_three_token_refusals() -> None:
    assert {"EXPIRED_TOKEN", "INVALID_TOKEN", "REVOKED_TOKEN"} == TOKEN_REJECTED


@pytest.mark.parametrize("code", ["INVALID_TOKEN", "REVOKED_TOKEN"])
def test_refused_token_once_logs_in_again_and_retries_once(
    code: str, fake_api: FakeApi, store: TokenStore
) -> None:
    client = authenticated(fake_api, store)
    whoami(client)  # at_0001 cached
    fake_api.script("GET auth/me", error(401, code))
    assert whoami(client).email == "dev@example.com"
    # The cache was thrown away: a fresh login, not a refresh with the dead token's pair.
    assert fake_api.count("POST auth/token") == 2
    assert fake_api.count("POST auth/refresh") == 0
    assert bearers(fake_api, "GET auth/me") == [
        "Bearer at_0001",
        "Bearer at_0001",
        "Bearer at_0002",
    ]
    cached = store.load()
    assert cached is not None and cached.access_token == "at_0002"


def test_expired_token_once_is_renewed_with_the_refresh_token(
    fake_api: FakeApi, store: TokenStore
) -> None:
    client = authenticated(fake_api, store)
    whoami(client)
    fake_api.script("GET auth/me", error(401, "EXPIRED_TOKEN"))
    assert whoami(client).email == "dev@example.com"
    assert fake_api.count("POST auth/refresh") == 1
    assert fake_api.count("GET auth/me") == 3


def test_expired_token_with_a_dead_refresh_token_logs_in_again(
    fake_api: FakeApi, store: TokenStore
) -> None:
    clock = Clock()
    store.save(TokenSet("at_foreign", clock.now + 3600, refresh_token="rt_foreign"))
    fake_api.expired_access.add("at_foreign")
    assert whoami(authenticated(fake_api, store)).email == "dev@example.com"
    assert fake_api.count("POST auth/refresh") == 1  # refused: unknown here
    assert fake_api.count("POST auth/token") == 1


@pytest.mark.parametrize("code", CODES)
def test_refused_twice_surfaces_the_error_after_one_retry(
    code: str, fake_api: FakeApi, store: TokenStore
) -> None:
    client = authenticated(fake_api, store)
    fake_api.script("GET auth/me", error(401, code), error(401, code), envelope({}))
    with pytest.raises(AuthenticationError) as caught:
        whoami(client)
    assert caught.value.code == code
    assert caught.value.exit_code == ExitCode.CONFIG
    assert "freshly obtained token" in (caught.value.hint or "")
    assert fake_api.count("GET auth/me") == 2  # one retry, no loop


@pytest.mark.parametrize("code", CODES)
def test_cli_recovers_silently_from_one_refusal(code: str) -> None:
    api = FakeApi()
    assert run("whoami", env=ENV, api=api).exit_code == 0
    api.script("GET auth/me", error(401, code))
    result = run("-o", "json", "whoami", env=ENV, api=api)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["user"]["email"] == "dev@example.com"
    assert result.stderr == ""


@pytest.mark.parametrize("code", CODES)
def test_cli_refused_twice_exits_3_with_a_hint(code: str) -> None:
    api = FakeApi()
    api.script("GET auth/me", error(401, code), error(401, code))
    result = run("whoami", env=ENV, api=api)
    assert result.exit_code == 3
    assert f"error: {code}" in result.stderr
    assert "hint: the API refused a freshly obtained token too" in result.stderr
    assert api.count("GET auth/me") == 2


def test_debug_tells_about_the_new_login_and_never_prints_a_secret() -> None:
    api = FakeApi()
    run("whoami", env=ENV, api=api)
    api.script("GET auth/me", error(401, "INVALID_TOKEN"))
    result = run("--debug", "whoami", env=ENV, api=api)
    assert result.exit_code == 0, result.stderr
    assert "debug: the API refused the cached access token (INVALID_TOKEN)" in result.stderr
    output = result.stdout + result.stderr
    for secret in (API_SECRET, "at_0001", "at_0002", "rt_0001", "rt_0002"):
        assert secret not in output


def test_a_post_refused_for_its_token_is_sent_once_more() -> None:
    """A POST is retried only because the server refused its token: the 401 says it did nothing
    (RFC 9110 15.5.2; see test_token_refusal_leaves_the_sandbox_untouched for the sandbox)."""
    api = FakeApi()
    created = envelope({"id": "whk_1", "url": "https://x.test/h", "events": ["message.sent"]}, 201)
    api.script("POST webhooks", error(401, "INVALID_TOKEN"), created)
    client = key_and_secret_client(api)
    answer = client.request("POST", "webhooks", json_body={"url": "https://x.test/h"})
    assert answer.data["id"] == "whk_1"
    assert api.count("POST webhooks") == 2
    assert bearers(api, "POST webhooks") == ["Bearer at_0001", "Bearer at_0002"]


def test_a_post_is_not_resent_for_other_failures() -> None:
    api = FakeApi()
    api.script("POST webhooks", error(500, "INTERNAL_ERROR"), envelope({}))
    client = key_and_secret_client(api)
    with pytest.raises(Exception, match="INTERNAL_ERROR"):
        client.request("POST", "webhooks", json_body={})
    assert api.count("POST webhooks") == 1
    assert api.count("POST auth/token") == 1


@pytest.mark.parametrize("code", CODES)
def test_a_fixed_token_cannot_be_renewed_and_says_what_to_do(code: str) -> None:
    api = FakeApi()
    api.script("GET auth/me", error(401, code))
    result = run("whoami", env={ENV_TOKEN: "at_given"}, api=api)
    assert result.exit_code == 3
    assert ENV_TOKEN in result.stderr
    assert ENV_API_KEY in result.stderr
    assert api.count("POST auth/token") == 0
    assert api.count("GET auth/me") == 1


def test_token_refusal_leaves_the_sandbox_untouched() -> None:
    """In APIMW's error model as the sandbox implements it, a token refusal comes before any
    effect: a POST, PATCH or DELETE refused for its token did nothing, so resending is safe."""
    with run_in_thread(SandboxConfig(port=0, ephemeral=True, rate_limit=0)) as old:
        foreign = httpx.post(
            f"{old.base_url}/auth/token",
            json={"api_key": SANDBOX_API_KEY, "api_secret": SANDBOX_API_SECRET},
        ).json()["data"]["access_token"]
    with run_in_thread(SandboxConfig(port=0, ephemeral=True, rate_limit=0)) as sandbox:
        good = httpx.post(
            f"{sandbox.base_url}/auth/token",
            json={"api_key": SANDBOX_API_KEY, "api_secret": SANDBOX_API_SECRET},
        ).json()["data"]["access_token"]
        with (
            httpx.Client(base_url=sandbox.base_url + "/", headers=_bearer(foreign)) as stale,
            httpx.Client(base_url=sandbox.base_url + "/", headers=_bearer(good)) as fresh,
        ):
            hook = {"url": "http://127.0.0.1:9/hooks", "events": ["message.sent"]}
            refused = stale.post("webhooks", json=hook)
            assert refused.status_code == 401
            assert refused.json()["error"]["code"] == "INVALID_TOKEN"
            assert fresh.get("webhooks").json()["data"]["webhooks"] == []
            created = fresh.post("webhooks", json=hook).json()["data"]
            assert (
                stale.patch(f"webhooks/{created['id']}", json={"active": False}).status_code == 401
            )
            assert stale.delete(f"webhooks/{created['id']}").status_code == 401
            after = fresh.get(f"webhooks/{created['id']}").json()["data"]
            assert after["active"] is True
            send = {"to": "+14155550123", "message": "hi"}
            assert stale.post("whatsapp/messages/send", json=send).status_code == 401


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- two real processes recovering at once, under the token cache's lock --------------------


def test_two_processes_refused_at_once_log_in_once(
    refresh_server: SingleUseRefreshServer, isolated_env: Path
) -> None:
    base = f"http://127.0.0.1:{refresh_server.server_address[1]}/v1"
    env = {**os.environ, **ENV}
    settings = Settings(flags={"api_base": base}, env=env)
    store = settings.token_store(settings.credentials())
    # A token the server never issued (another instance's), fresh by our clock.
    store.save(TokenSet("at_dead", expires_at=time.time() + 3000, refresh_token="rt_start"))
    command = [sys.executable, "-m", "apimw_cli", "--api-base", base, "-o", "json", "whoami"]
    procs = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    results = [proc.communicate(timeout=60) for proc in procs]
    for proc, (out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err.decode()
        assert json.loads(out)["user"]["email"] == "dev@example.com"
        assert b"error" not in err and b"token" not in err  # only whoami's permission warning
    assert refresh_server.exchanges == 1  # the second process reused the first one's login
    assert refresh_server.refreshes == 0  # the dead token's refresh token was not tried
    cached = store.load()
    assert cached is not None and cached.access_token == "at_p1"
