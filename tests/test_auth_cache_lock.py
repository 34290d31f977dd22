"""A fresh cached token is read without the cache's lock (and without importing filelock); only
renewing, which spends the single-use refresh token, takes it, and reads the cache again under
it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from apimw_cli.api.auth import EXPIRY_MARGIN, Authenticator
from apimw_cli.api.client import ApiClient
from apimw_cli.models import TokenSet
from apimw_cli.settings import TokenStore
from tests.fakeapi import API_KEY, API_SECRET, BASE, FakeApi

NOW = 1_000_000.0


class CountingStore(TokenStore):
    """The real store, counting how often its lock is taken and what ran under it."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.locks = 0
        self.loads_under_lock = 0
        self._held = False

    @contextmanager
    def lock(self, timeout: float = 30.0) -> Iterator[None]:
        with super().lock(timeout):
            self.locks += 1
            self._held = True
            try:
                yield
            finally:
                self._held = False

    def load(self) -> TokenSet | None:
        self.loads_under_lock += self._held
        return super().load()


def _token(access: str, expires_at: float) -> TokenSet:
    return TokenSet(access_token=access, expires_at=expires_at, refresh_token="rt_" + access)


def _authenticator(api: FakeApi, store: TokenStore) -> Authenticator:
    client = ApiClient(BASE, transport=api.transport(), sleep=lambda _s: None)
    return Authenticator(
        client, api_key=API_KEY, api_secret=API_SECRET, store=store, clock=lambda: NOW
    )


def test_a_fresh_cached_token_is_used_without_the_lock(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "tokens" / "default.json")
    store.save(_token("at_cached", NOW + 3600))
    api = FakeApi()
    assert _authenticator(api, store).token() == "at_cached"
    assert store.locks == 0
    assert api.count("POST auth/token") == 0 and api.count("POST auth/refresh") == 0


def test_a_token_about_to_expire_is_renewed_under_the_lock(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "tokens" / "default.json")
    store.save(_token("at_cached", NOW + EXPIRY_MARGIN - 1))
    api = FakeApi()
    token = _authenticator(api, store).token()
    assert token != "at_cached"
    assert store.locks == 1 and store.loads_under_lock == 1  # read again once locked
    assert api.count("POST auth/refresh") == 1


def test_a_token_renewed_by_another_process_meanwhile_is_taken_under_the_lock(
    tmp_path: Path,
) -> None:
    """Seen stale without the lock, fresh under it (another apimw renewed it in between): it is
    used, and the refresh token is not spent a second time."""
    path = tmp_path / "tokens" / "default.json"
    store = CountingStore(path)
    store.save(_token("at_old", NOW - 10))

    class RenewedMeanwhile(CountingStore):
        @contextmanager
        def lock(self, timeout: float = 30.0) -> Iterator[None]:
            TokenStore(path).save(_token("at_theirs", NOW + 3600))  # the other process
            with super().lock(timeout):
                yield

    racing = RenewedMeanwhile(path)
    api = FakeApi()
    assert _authenticator(api, racing).token() == "at_theirs"
    assert api.count("POST auth/refresh") == 0 and api.count("POST auth/token") == 0


def test_no_cache_logs_in_under_the_lock(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "tokens" / "default.json")
    api = FakeApi()
    assert _authenticator(api, store).token()
    assert store.locks == 1
    assert api.count("POST auth/token") == 1
