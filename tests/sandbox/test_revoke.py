"""`POST /v1/auth/revoke` as APIMW documents it (the access token as the bearer, no body) and as
older clients call it (`{"token": ...}`): docs/apimw-api.md, "Authentication"."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest

from apimw_cli.sandbox.store import Store
from tests.sandbox.support import (
    MakeSandbox,
    RunningSandboxLike,
    assert_names_field,
    client,
    data_of,
    error_of,
    token_pair,
)
from tests.support.waiting import wait_for


@pytest.fixture
def running_sandbox(module_sandbox: RunningSandboxLike) -> RunningSandboxLike:
    """Every test here uses its own tokens: one sandbox serves the module."""
    return module_sandbox


def _refresh(anon: httpx.Client, refresh_token: str) -> httpx.Response:
    return anon.post("auth/refresh", json={"refresh_token": refresh_token})


def test_bearer_without_body_revokes_it_and_its_refresh_token(
    running_sandbox: RunningSandboxLike, anon: httpx.Client
) -> None:
    pair = token_pair(running_sandbox.base_url)
    other = token_pair(running_sandbox.base_url)
    with client(running_sandbox.base_url, pair["access_token"]) as api:
        response = api.post("auth/revoke")
        assert response.request.content == b""
        assert data_of(response) == {"revoked": True}
        error_of(api.get("auth/me"), 401, "REVOKED_TOKEN")
        # Revoking a dead token again is not an error: it is as revoked as asked.
        assert data_of(api.post("auth/revoke")) == {"revoked": True}
    error_of(_refresh(anon, pair["refresh_token"]), 401, "INVALID_REFRESH_TOKEN")
    # Another pair is untouched.
    with client(running_sandbox.base_url, other["access_token"]) as api:
        data_of(api.get("auth/me"))
    data_of(_refresh(anon, other["refresh_token"]))


def test_a_refreshed_pair_is_revoked_as_a_pair(
    running_sandbox: RunningSandboxLike, anon: httpx.Client
) -> None:
    first = token_pair(running_sandbox.base_url)
    second = data_of(_refresh(anon, first["refresh_token"]))
    with client(running_sandbox.base_url, second["access_token"]) as api:
        data_of(api.post("auth/revoke"))
    error_of(_refresh(anon, second["refresh_token"]), 401, "INVALID_REFRESH_TOKEN")


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Basic abc", "Bearer not-a-jwt", "Bearer a.b.c"],
    ids=["none", "no-token", "basic", "not-jwt", "garbled"],
)
def test_revoke_without_a_token_of_ours_is_invalid_token(
    anon: httpx.Client, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    error_of(anon.post("auth/revoke", headers=headers), 401, "INVALID_TOKEN")


def test_a_forged_bearer_is_refused_and_revokes_nothing(
    running_sandbox: RunningSandboxLike,
) -> None:
    token = token_pair(running_sandbox.base_url)["access_token"]
    header, body, signature = token.split(".")
    forged = f"{header}.{body}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    with client(running_sandbox.base_url, forged) as api:
        error_of(api.post("auth/revoke"), 401, "INVALID_TOKEN")
    with client(running_sandbox.base_url, token) as api:
        data_of(api.get("auth/me"))


def test_an_expired_bearer_can_still_be_revoked(
    make_sandbox: MakeSandbox,
) -> None:
    running = make_sandbox(token_ttl=1.0)
    pair = token_pair(running.base_url)
    with client(running.base_url, pair["access_token"]) as api, client(running.base_url) as anon:
        wait_for(lambda: api.get("auth/me").status_code == 401, 6.0, "the access token to expire")
        error_of(api.get("auth/me"), 401, "EXPIRED_TOKEN")
        assert data_of(api.post("auth/revoke")) == {"revoked": True}
        error_of(_refresh(anon, pair["refresh_token"]), 401, "INVALID_REFRESH_TOKEN")


def test_older_body_form_still_revokes_access_and_refresh_tokens(
    running_sandbox: RunningSandboxLike, anon: httpx.Client
) -> None:
    access_pair = token_pair(running_sandbox.base_url)
    refresh_pair = token_pair(running_sandbox.base_url)
    assert data_of(anon.post("auth/revoke", json={"token": access_pair["access_token"]})) == {
        "revoked": True
    }
    with client(running_sandbox.base_url, access_pair["access_token"]) as api:
        error_of(api.get("auth/me"), 401, "REVOKED_TOKEN")
    error_of(_refresh(anon, access_pair["refresh_token"]), 401, "INVALID_REFRESH_TOKEN")
    data_of(anon.post("auth/revoke", json={"token": refresh_pair["refresh_token"]}))
    error_of(_refresh(anon, refresh_pair["refresh_token"]), 401, "INVALID_REFRESH_TOKEN")
    with client(running_sandbox.base_url, refresh_pair["access_token"]) as api:
        data_of(api.get("auth/me"))  # only the named token was revoked


@pytest.mark.parametrize("token", ["rt_never_issued", "x.y.z", "plain"])
def test_a_named_token_we_never_issued_is_not_an_error(anon: httpx.Client, token: str) -> None:
    assert data_of(anon.post("auth/revoke", json={"token": token})) == {"revoked": True}


@pytest.mark.parametrize(
    ("body", "field"),
    [({"token": 5}, "token"), ({"token": ""}, "token"), ({"access_token": "x"}, "access_token")],
)
def test_a_bad_body_is_validation_error(
    anon: httpx.Client, body: dict[str, object], field: str
) -> None:
    error = error_of(anon.post("auth/revoke", json=body), 400, "VALIDATION_ERROR")
    assert_names_field(error, field)


def test_a_data_dir_from_before_token_pairs_gains_the_table(tmp_path: Path) -> None:
    path = tmp_path / "sandbox.db"
    Store(path).close()
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE token_pairs")  # as an older sandbox left it
    store = Store(path)
    try:
        store.tokens.add_refresh_token("rt_x", 1e12, access_jti="jti_x")
        store.tokens.revoke("jti_x", 1e12)
        assert store.tokens.is_revoked("jti_x")
        assert not store.tokens.spend_refresh_token("rt_x", now=0.0)
    finally:
        store.close()
