"""`apimw login`, `logout`, `whoami` against a fake API."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import httpx
import pytest

from apimw_cli.settings import ENV_API_KEY, ENV_API_SECRET
from tests.fakeapi import API_KEY, API_SECRET, FakeApi, error
from tests.support.cli import run


def login(api: FakeApi, secret: str = API_SECRET, *extra: str) -> object:
    return run(
        "login", "--api-key", API_KEY, "--api-secret-stdin", *extra, input=secret + "\n", api=api
    )


def stored(isolated_env: Path) -> dict[str, object]:
    profiles = tomllib.loads((isolated_env / "config.toml").read_text())["profiles"]
    return dict(profiles["default"])


def test_login_verifies_and_stores_the_credentials(isolated_env: Path) -> None:
    api = FakeApi()
    result = run(
        "login", "--api-key", API_KEY, "--api-secret-stdin", input=API_SECRET + "\n", api=api
    )
    assert result.exit_code == 0, result.stderr
    assert "logged in as dev@example.com" in result.stderr
    assert stored(isolated_env) == {"api_key": API_KEY, "api_secret": API_SECRET}
    assert API_SECRET not in result.stdout + result.stderr


def test_login_with_wrong_secret_saves_nothing(isolated_env: Path) -> None:
    result = run(
        "login", "--api-key", API_KEY, "--api-secret-stdin", input="sk_live_wrong\n", api=FakeApi()
    )
    assert result.exit_code == 3
    assert "INVALID_CREDENTIALS" in result.stderr
    assert not (isolated_env / "config.toml").exists()


def test_login_without_a_terminal_or_secret_refuses_with_a_hint() -> None:
    result = run("login", "--api-key", API_KEY, api=FakeApi())
    assert result.exit_code == 2
    assert "--api-secret-stdin" in result.stderr


def test_login_takes_credentials_from_env() -> None:
    env = {ENV_API_KEY: API_KEY, ENV_API_SECRET: API_SECRET}
    result = run("-o", "json", "login", env=env, api=FakeApi())
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["user"]["email"] == "dev@example.com"


def test_login_refuses_in_sandbox_mode() -> None:
    result = run("--sandbox", "login", "--api-key", API_KEY)
    assert result.exit_code == 2
    assert "sandbox credentials" in result.stderr


def test_whoami_uses_the_stored_profile() -> None:
    api = FakeApi()
    run("login", "--api-key", API_KEY, "--api-secret-stdin", input=API_SECRET, api=api)
    result = run("-o", "json", "whoami", api=api)
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["tenant"]["plan"] == "free"
    assert data["permissions"] == ["whatsapp:send", "whatsapp:templates", "webhooks:manage"]
    assert api.count("POST auth/token") == 1  # the login's token was cached and reused


def test_whoami_warns_when_webhooks_manage_is_missing() -> None:
    api = FakeApi(permissions=["whatsapp:send", "whatsapp:templates"])
    env = {ENV_API_KEY: API_KEY, ENV_API_SECRET: API_SECRET}
    result = run("whoami", env=env, api=api)
    assert result.exit_code == 0
    assert "lack 'webhooks:manage'" in result.stderr
    assert "Acme" in result.stdout


def test_whoami_shows_a_visible_rate_limit_wait() -> None:
    api = FakeApi()
    api.script("GET auth/me", error(429, "RATE_LIMIT_EXCEEDED", retry_after=0))
    env = {ENV_API_KEY: API_KEY, ENV_API_SECRET: API_SECRET}
    waits: list[float] = []  # the client's retry waits, recorded instead of slept
    result = run("whoami", env=env, api=api, sleep=waits.append)
    assert result.exit_code == 0, result.stderr
    assert "rate limited, retrying in" in result.stderr
    assert len(waits) == 1


def test_logout_revokes_and_forgets(isolated_env: Path) -> None:
    api = FakeApi()
    run("login", "--api-key", API_KEY, "--api-secret-stdin", input=API_SECRET, api=api)
    result = run("logout", api=api)
    assert result.exit_code == 0, result.stderr
    assert api.revoked == ["at_0001"]  # the access token, as the bearer (docs/apimw-api.md)
    [revoke] = [r for r in api.requests if r.url.path == "/v1/auth/revoke"]
    assert revoke.headers["Authorization"] == "Bearer at_0001" and revoke.content == b""
    assert "default" not in tomllib.loads((isolated_env / "config.toml").read_text()).get(
        "profiles", {}
    )
    assert run("whoami", api=api).exit_code == 3


@pytest.mark.parametrize(
    ("status", "code"), [(404, "NOT_FOUND"), (401, "INVALID_TOKEN"), (401, "REVOKED_TOKEN")]
)
def test_logout_tolerates_an_api_without_revoke_or_a_dead_token_quietly(
    isolated_env: Path, status: int, code: str
) -> None:
    api = FakeApi()
    run("login", "--api-key", API_KEY, "--api-secret-stdin", input=API_SECRET, api=api)
    api.script("POST auth/revoke", error(status, code))
    result = run("-o", "json", "logout", api=api)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert json.loads(result.stdout) == {"profile": "default", "forgotten": True, "revoked": False}
    assert api.count("POST auth/revoke") == 1  # a refused token is not renewed to revoke it
    assert api.count("POST auth/refresh") + api.count("POST auth/token") == 1  # login's only
    assert "api_secret" not in (isolated_env / "config.toml").read_text()


def test_logout_says_when_revoke_fails_otherwise_and_still_forgets(isolated_env: Path) -> None:
    api = FakeApi()
    run("login", "--api-key", API_KEY, "--api-secret-stdin", input=API_SECRET, api=api)
    api.script("POST auth/revoke", error(403, "FORBIDDEN", "not allowed"))
    result = run("logout", api=api)
    assert result.exit_code == 0
    assert "could not revoke the cached token" in result.stderr
    assert "api_secret" not in (isolated_env / "config.toml").read_text()


def test_logout_works_offline_and_still_forgets(isolated_env: Path) -> None:
    api = FakeApi()
    run("login", "--api-key", API_KEY, "--api-secret-stdin", input=API_SECRET, api=api)

    def offline(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("network is unreachable")

    api.script("POST auth/revoke", offline, offline, offline, offline)
    waits: list[float] = []  # the client's retry waits, recorded instead of slept
    result = run("logout", api=api, sleep=waits.append)
    assert result.exit_code == 0
    assert len(waits) == 3  # the revoke was tried four times before giving up
    assert "could not revoke" in result.stderr
    assert "api_secret" not in (isolated_env / "config.toml").read_text()


def test_logout_without_credentials_says_so() -> None:
    result = run("logout")
    assert result.exit_code == 0
    assert "nothing to forget" in result.stderr
