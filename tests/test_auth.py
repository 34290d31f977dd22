"""Token caching, refresh and fallback, including two processes refreshing at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from apimw_cli.api.auth import Authenticator, whoami
from apimw_cli.api.client import ApiClient
from apimw_cli.errors import AuthenticationError
from apimw_cli.models import TokenSet
from apimw_cli.settings import ENV_API_KEY, ENV_API_SECRET, ENV_TOKEN, TokenStore
from tests.fakeapi import API_KEY, API_SECRET, BASE, FakeApi
from tests.support.refresh_server import SingleUseRefreshServer


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake_api() -> FakeApi:
    return FakeApi()


@pytest.fixture
def store(tmp_path: Path) -> TokenStore:
    return TokenStore(tmp_path / "tokens" / "default.json")


def authenticated(api: FakeApi, store: TokenStore, clock: Clock) -> ApiClient:
    return ApiClient(
        BASE,
        authenticator=lambda client: Authenticator(
            client, api_key=API_KEY, api_secret=API_SECRET, store=store, clock=clock
        ),
        transport=api.transport(),
        sleep=lambda _s: None,
    )


def test_first_call_exchanges_key_and_secret_and_caches(
    fake_api: FakeApi, store: TokenStore
) -> None:
    client = authenticated(fake_api, store, Clock())
    assert whoami(client).email == "dev@example.com"
    assert fake_api.count("POST auth/token") == 1
    cached = store.load()
    assert cached is not None and cached.access_token == "at_0001"
    assert cached.refresh_token == "rt_0001"


def test_cached_token_is_reused_across_clients(fake_api: FakeApi, store: TokenStore) -> None:
    clock = Clock()
    whoami(authenticated(fake_api, store, clock))
    whoami(authenticated(fake_api, store, clock))
    assert fake_api.count("POST auth/token") == 1


def test_token_near_expiry_is_refreshed_and_new_refresh_token_persisted(
    fake_api: FakeApi, store: TokenStore
) -> None:
    clock = Clock()
    whoami(authenticated(fake_api, store, clock))
    clock.now += 3600 - 30  # inside the renewal margin
    whoami(authenticated(fake_api, store, clock))
    assert fake_api.count("POST auth/refresh") == 1
    cached = store.load()
    assert cached is not None and cached.refresh_token == "rt_0002"


def test_failed_refresh_falls_back_to_key_and_secret(fake_api: FakeApi, store: TokenStore) -> None:
    clock = Clock()
    store.save(TokenSet("at_stale", expires_at=clock.now - 10, refresh_token="rt_spent"))
    whoami(authenticated(fake_api, store, clock))
    assert fake_api.count("POST auth/refresh") == 1
    assert fake_api.count("POST auth/token") == 1


def test_expired_token_answer_triggers_one_refresh_and_retry(
    fake_api: FakeApi, store: TokenStore
) -> None:
    clock = Clock()
    client = authenticated(fake_api, store, clock)
    whoami(client)
    fake_api.expire("at_0001")  # the server says expired although our clock says fresh
    assert whoami(client).email == "dev@example.com"
    assert fake_api.count("POST auth/refresh") == 1
    assert fake_api.count("GET auth/me") == 3


def test_renew_reuses_a_token_another_process_already_renewed(
    fake_api: FakeApi, store: TokenStore
) -> None:
    clock = Clock()
    client = authenticated(fake_api, store, clock)
    whoami(client)
    fake_api.expire("at_0001")
    fresh = fake_api.issue()  # as if another process refreshed and cached this
    store.save(TokenSet(fresh["access_token"], clock.now + 3600, fresh["refresh_token"]))
    whoami(client)
    assert fake_api.count("POST auth/refresh") == 0


def test_wrong_credentials_fail_with_a_hint(fake_api: FakeApi, store: TokenStore) -> None:
    client = ApiClient(
        BASE,
        authenticator=lambda c: Authenticator(
            c, api_key=API_KEY, api_secret="sk_wrong", store=store
        ),
        transport=fake_api.transport(),
    )
    with pytest.raises(AuthenticationError) as caught:
        whoami(client)
    assert caught.value.code == "INVALID_CREDENTIALS"
    assert "apimw login" in (caught.value.hint or "")
    assert store.load() is None


def test_fixed_token_that_expired_says_how_to_fix(fake_api: FakeApi) -> None:
    fake_api.expired_access.add("at_fixed")
    client = ApiClient(
        BASE,
        authenticator=lambda c: Authenticator(c, token="at_fixed"),
        transport=fake_api.transport(),
    )
    with pytest.raises(AuthenticationError, match=ENV_TOKEN) as caught:
        whoami(client)
    assert ENV_API_KEY in (caught.value.hint or "")


def test_cache_file_and_its_new_directories_are_private(fake_api: FakeApi, tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "config" / "tokens" / "default.json")
    whoami(authenticated(fake_api, store, Clock()))
    assert (store.path.stat().st_mode & 0o777) == 0o600
    assert (store.path.parent.stat().st_mode & 0o777) == 0o700
    assert ((tmp_path / "config").stat().st_mode & 0o777) == 0o700


def test_damaged_cache_is_ignored(fake_api: FakeApi, store: TokenStore) -> None:
    store.path.parent.mkdir(parents=True)
    store.path.write_text("{not json")
    whoami(authenticated(fake_api, store, Clock()))
    assert fake_api.count("POST auth/token") == 1


# --- two real processes refreshing at once -------------------------------------------------


def test_two_processes_refreshing_at_once_share_one_refresh(
    refresh_server: SingleUseRefreshServer, isolated_env: Path
) -> None:
    base = f"http://127.0.0.1:{refresh_server.server_address[1]}/v1"
    env = {**os.environ, ENV_API_KEY: API_KEY, ENV_API_SECRET: API_SECRET}
    # Seed the cache the CLI will use with an expired token and a valid refresh token.
    from apimw_cli.settings import Settings

    settings = Settings(flags={"api_base": base}, env=env)
    store = settings.token_store(settings.credentials())
    store.save(TokenSet("at_expired", expires_at=time.time() - 100, refresh_token="rt_start"))
    command = [sys.executable, "-m", "apimw_cli", "--api-base", base, "-o", "json", "whoami"]
    procs = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    results = [proc.communicate(timeout=60) for proc in procs]
    for proc, (out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err.decode()
        assert json.loads(out)["user"]["email"] == "dev@example.com"
    assert refresh_server.refreshes == 1
    assert refresh_server.reused == 0
    assert refresh_server.exchanges == 0
    cached = store.load()
    assert cached is not None and cached.refresh_token == "rt_p1"
