"""Authentication: exchange key+secret for tokens, refresh, revoke, and who am I.

`Authenticator` is the client's TokenProvider. Tokens are cached per profile until shortly
before expiry. Refresh tokens are single-use, so reading the old one, refreshing and saving the
new one happen under the store's file lock: a concurrent apimw process either waits and reuses
our new token, or refreshes before us and we reuse its.

A cached token can also die before its time: the sandbox was restarted in memory or reset (it
signs with a new key), or the token was revoked. When the API refuses it (`renew`), the cache is
thrown away and the key and secret log in afresh, once; the client then sends the request again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from typing import TYPE_CHECKING, Protocol, Unpack

from apimw_cli.api.client import ApiClient, ClientOptions
from apimw_cli.errors import (
    ApiError,
    AuthenticationError,
    CredentialsError,
    NotFoundError,
    ServerError,
)
from apimw_cli.models import Identity, TokenSet
from apimw_cli.settings import TokenCacheError

if TYPE_CHECKING:
    from apimw_cli.settings import Credentials, Settings

# Renew this long before the stated expiry, so a token never dies mid-request.
EXPIRY_MARGIN = 60.0


class TokenStore(Protocol):
    def lock(self) -> AbstractContextManager[None]: ...

    def load(self) -> TokenSet | None: ...

    def save(self, tokens: TokenSet) -> None: ...

    def clear(self) -> None: ...


class MemoryTokenStore:
    """A store that forgets on exit: for a bare token, or when no cache is wanted."""

    def __init__(self) -> None:
        self._tokens: TokenSet | None = None

    def lock(self) -> AbstractContextManager[None]:
        @contextmanager
        def held() -> Iterator[None]:
            yield

        return held()

    def load(self) -> TokenSet | None:
        return self._tokens

    def save(self, tokens: TokenSet) -> None:
        self._tokens = tokens

    def clear(self) -> None:
        self._tokens = None


class CacheOrMemory:
    """The profile's token cache, or memory once that cannot be locked or written (a read-only
    or full config directory): a command that only reads from the API goes on, warned once.
    Nothing is lost but the cache: the next invocation logs in again."""

    def __init__(self, disk: TokenStore, warn: Callable[[str], None] | None) -> None:
        self._disk = disk
        self._memory: MemoryTokenStore | None = None
        self._warn = warn or (lambda _message: None)

    def _give_up(self, error: TokenCacheError) -> MemoryTokenStore:
        if self._memory is None:
            self._memory = MemoryTokenStore()
            self._warn(f"{error.message}; going on without caching the access token")
        return self._memory

    @contextmanager
    def lock(self) -> Iterator[None]:
        with ExitStack() as stack:
            if self._memory is None:
                try:
                    stack.enter_context(self._disk.lock())
                except TokenCacheError as error:
                    self._give_up(error)
            yield

    def load(self) -> TokenSet | None:
        return self._disk.load() if self._memory is None else self._memory.load()

    def save(self, tokens: TokenSet) -> None:
        if self._memory is None:
            try:
                self._disk.save(tokens)
                return
            except TokenCacheError as error:
                self._give_up(error)
        assert self._memory is not None
        self._memory.save(tokens)

    def clear(self) -> None:
        if self._memory is None:
            try:
                self._disk.clear()
            except TokenCacheError as error:
                self._give_up(error)
        if self._memory is not None:
            self._memory.clear()


def _tokens_from(data: object, now: float, what: str) -> TokenSet:
    if not isinstance(data, dict) or not isinstance(data.get("access_token"), str):
        raise ServerError(f"the API's answer to {what} holds no access_token")
    return TokenSet.from_api(data, now=now)


def exchange(client: ApiClient, api_key: str, api_secret: str, *, now: float) -> TokenSet:
    """POST /auth/token: key and secret for an access token and a refresh token."""
    response = client.request(
        "POST", "auth/token", json_body={"api_key": api_key, "api_secret": api_secret}, auth=False
    )
    return _tokens_from(response.data, now, "auth/token")


def refresh(client: ApiClient, refresh_token: str, *, now: float) -> TokenSet:
    """POST /auth/refresh: the old refresh token is spent; the answer holds a new one."""
    response = client.request(
        "POST", "auth/refresh", json_body={"refresh_token": refresh_token}, auth=False
    )
    return _tokens_from(response.data, now, "auth/refresh")


def revoke(client: ApiClient, access_token: str) -> bool:
    """POST /auth/revoke as documented: the access token to revoke is the bearer, no body.

    True when the API revoked it; False when there was nothing to revoke: an API without the
    endpoint (404) or a token it no longer accepts (401: expired, invalid, already revoked).
    Anything else raises."""
    try:
        client.request("POST", "auth/revoke", bearer=access_token)
    except (AuthenticationError, NotFoundError):
        return False
    return True


def whoami(client: ApiClient) -> Identity:
    data = client.request("GET", "auth/me").data
    if not isinstance(data, dict):
        raise ServerError("the API's answer to auth/me is not an object")
    return Identity.from_api(data)


def _fixed_token_refused(code: str) -> AuthenticationError:
    """A token given as is (APIMW_TOKEN) cannot be renewed: say what to do instead."""
    what = {
        "EXPIRED_TOKEN": "has expired",
        "REVOKED_TOKEN": "has been revoked",
    }.get(code, "was refused")
    return AuthenticationError(
        f"the access token in APIMW_TOKEN {what}",
        status=401,
        code=code,
        hint="get a new token, or use APIMW_API_KEY and APIMW_API_SECRET instead",
    )


class Authenticator:
    """Hands out a valid access token, renewing it through the store's lock when needed."""

    def __init__(
        self,
        client: ApiClient,
        *,
        token: str | None = None,
        api_key: str | None = None,
        api_secret: str | None = None,
        store: TokenStore | None = None,
        clock: Callable[[], float] = time.time,
        note: Callable[[str], None] | None = None,
    ) -> None:
        if token is None and not (api_key and api_secret):
            raise CredentialsError("an API key and secret, or a token, are needed")
        self._client = client
        self._fixed_token = token
        self._key = api_key
        self._secret = api_secret
        self._store: TokenStore = store or MemoryTokenStore()
        self._clock = clock
        # Where a token renewal after a refusal is told (`--debug`); never given a secret.
        self._note: Callable[[str], None] = note or (lambda _message: None)
        self._current: TokenSet | None = None

    def _fresh(self, tokens: TokenSet | None) -> bool:
        return tokens is not None and tokens.expires_at - EXPIRY_MARGIN > self._clock()

    def token(self) -> str:
        if self._fixed_token is not None:
            return self._fixed_token
        if self._current is not None and self._fresh(self._current):
            return self._current.access_token
        # A fresh cached token needs no lock (nor filelock's import): the cache is replaced
        # atomically, so this reads a whole old or new one. The lock is for renewing, which
        # spends the single-use refresh token; under it the cache is read again.
        cached = self._store.load()
        if cached is not None and self._fresh(cached):
            self._current = cached
            return cached.access_token
        with self._store.lock():
            cached = self._store.load()
            if cached is not None and self._fresh(cached):
                self._current = cached
            else:
                self._current = self._renew_locked(cached)
        return self._current.access_token

    def renew(self, rejected: str, code: str) -> str:
        """The API refused `rejected` with `code` (a TOKEN_REJECTED code): get a new token.

        Called at most once per request. EXPIRED_TOKEN is what refresh tokens are for. A token
        the API does not accept at all (INVALID_TOKEN: another server instance, a sandbox that
        was restarted or reset; REVOKED_TOKEN) says its refresh token is no better: the cache is
        discarded and the key and secret log in again.
        """
        if self._fixed_token is not None:
            raise _fixed_token_refused(code)
        with self._store.lock():
            cached = self._store.load()
            if cached is not None and cached.access_token != rejected and self._fresh(cached):
                self._current = cached  # another process renewed it meanwhile
                self._note(
                    f"the API refused the access token ({code}); using the one another "
                    "apimw process just cached"
                )
            elif code == "EXPIRED_TOKEN":
                self._current = self._renew_locked(cached)
                self._note("the API said the access token expired; renewed it")
            else:
                self._store.clear()
                self._current = self._renew_locked(None)
                self._note(
                    f"the API refused the cached access token ({code}); "
                    "discarded the token cache and logged in again with the API key"
                )
        return self._current.access_token

    def _renew_locked(self, cached: TokenSet | None) -> TokenSet:
        """Refresh if we can, else exchange key and secret. The caller holds the lock."""
        now = self._clock()
        tokens: TokenSet | None = None
        if cached is not None and cached.refresh_token:
            try:
                tokens = refresh(self._client, cached.refresh_token, now=now)
            except ApiError as exc:
                # A spent, expired or revoked refresh token: fall back to the key and secret.
                if exc.status not in (400, 401, 403):
                    raise
        if tokens is None:
            assert self._key is not None and self._secret is not None
            tokens = exchange(self._client, self._key, self._secret, now=now)
        self._store.save(tokens)
        return tokens

    def forget(self) -> TokenSet | None:
        """Drop the cached tokens (logout) and return what was cached, to revoke it."""
        with self._store.lock():
            cached = self._store.load()
            self._store.clear()
        self._current = None
        return cached


def authenticated_client(
    settings: Settings,
    credentials: Credentials | None,
    *,
    note: Callable[[str], None] | None = None,
    **options: Unpack[ClientOptions],
) -> ApiClient:
    """An ApiClient for `settings.api_base`, authenticated with `credentials` (None: it sends
    no token). A key and secret log in through the profile's token cache; a bare token is used
    as is. `note` hears about token renewals after a refusal (`--debug`)."""
    if credentials is None:
        return ApiClient(settings.api_base, **options)
    store = (
        None
        if credentials.token
        else CacheOrMemory(settings.token_store(credentials), options.get("notify"))
    )

    def authenticator(client: ApiClient) -> Authenticator:
        return Authenticator(
            client,
            token=credentials.token,
            api_key=credentials.api_key,
            api_secret=credentials.api_secret,
            store=store,
            note=note,
        )

    return ApiClient(settings.api_base, authenticator=authenticator, **options)
