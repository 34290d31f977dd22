"""The token cache: one private file per profile and API identity, behind a file lock.

Lock files are reused while their cache exists, and removed (while held, which filelock makes
safe: a waiter on the removed file notices and retries on the new one) once the cache is gone,
so logouts leave nothing behind. When a cache is saved, the caches whose refresh token has died
too (a sandbox address long gone) and orphaned locks of older versions are swept.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from apimw_cli.errors import ConfigError
from apimw_cli.settings.files import (
    NotAFile,
    file_fault,
    make_private_dir,
    read_small_file,
    write_private_file,
)

if TYPE_CHECKING:
    from apimw_cli.models import TokenSet

_MAX_CACHE_BYTES = 64 * 1024  # a cache holds two tokens
REFRESH_TOKEN_LIFETIME = 30 * 86400.0  # seconds (docs/apimw-api.md, Authentication)


class TokenCacheError(ConfigError):
    """The token cache cannot be locked or written (a read-only or full config directory).

    Commands that only read from the API go on without a cache (api/auth.py); commands that
    change credentials report it."""


class TokenStore:
    """The cached access/refresh tokens of one profile and API identity.

    Refresh tokens are single-use: whoever refreshes must hold `lock()` from reading the old
    token to writing the new one, or a concurrent apimw process would burn it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    @contextlib.contextmanager
    def lock(self, timeout: float = 30.0) -> Iterator[None]:
        import filelock

        try:
            make_private_dir(self.path.parent, tighten=True)
            lock = filelock.FileLock(str(self.lock_path), timeout=timeout, mode=0o600)
            lock.acquire()
        except filelock.Timeout:
            raise ConfigError(
                f"another apimw process holds {self.lock_path}",
                hint="wait for it to finish, or delete the .lock file if none is running",
            ) from None
        except OSError as exc:
            fault = file_fault(self.lock_path, exc, "lock the token cache")
            raise TokenCacheError(fault.message, hint=fault.hint) from None
        try:
            yield
        finally:
            try:
                if not self.path.exists():  # no cache left to guard: leave no lock behind
                    with contextlib.suppress(OSError):
                        self.lock_path.unlink()
            finally:
                lock.release()

    def load(self) -> TokenSet | None:
        import json

        from apimw_cli.models import TokenSet

        try:
            raw_bytes = read_small_file(self.path, _MAX_CACHE_BYTES)
            if raw_bytes is None:
                return None
            raw = json.loads(raw_bytes)
            return TokenSet(
                access_token=str(raw["access_token"]),
                expires_at=float(raw["expires_at"]),
                refresh_token=raw.get("refresh_token"),
                token_type=str(raw.get("token_type", "Bearer")),
            )
        except (OSError, NotAFile, ValueError, KeyError, TypeError, RecursionError):
            return None  # a damaged or unreadable cache is only a cache: get fresh tokens

    def save(self, tokens: TokenSet) -> None:
        import json

        payload = {
            "access_token": tokens.access_token,
            "expires_at": tokens.expires_at,
            "refresh_token": tokens.refresh_token,
            "token_type": tokens.token_type,
        }
        try:
            write_private_file(self.path, json.dumps(payload).encode("utf-8"))
        except OSError as exc:
            fault = file_fault(self.path, exc, "write the token cache")
            raise TokenCacheError(fault.message, hint=fault.hint) from None
        sweep(self.path.parent, keep=self.path)

    def clear(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            fault = file_fault(self.path, exc, "remove the token cache")
            raise TokenCacheError(fault.message, hint=fault.hint) from None


def sweep(directory: Path, *, keep: Path, now: float | None = None) -> None:
    """Housekeeping of the cache directory, done when a cache is saved: remove the caches whose
    refresh token is dead too (a sandbox's address long gone, a profile since deleted) and the
    `.lock` files whose cache is gone; never one that another process holds, nor `keep`."""
    now = time.time() if now is None else now
    try:
        caches = [p for p in directory.glob("*.json") if p != keep]
        locks = [p for p in directory.glob("*.lock") if p != keep.with_name(keep.name + ".lock")]
    except OSError:
        return
    for cache in caches:
        lock_path = cache.with_name(cache.name + ".lock")
        if _worthless(cache, now):
            _remove_unless_held(lock_path, cache, lock_path, still=partial(_worthless, cache, now))
    for lock_path in locks:
        cache = lock_path.with_name(lock_path.name.removesuffix(".lock"))
        if not cache.exists():
            _remove_unless_held(lock_path, lock_path, still=partial(_missing, cache))


def _worthless(cache: Path, now: float) -> bool:
    """Its access token expired longer ago than a refresh token lives (docs/apimw-api.md:
    an hour and 30 days), or it is damaged and as old as that."""
    stored = TokenStore(cache).load()
    try:
        since = stored.expires_at if stored is not None else cache.stat().st_mtime
    except OSError:
        return False
    return now - since > REFRESH_TOKEN_LIFETIME


def _missing(path: Path) -> bool:
    return not path.exists()


def _remove_unless_held(lock_path: Path, *paths: Path, still: Callable[[], bool]) -> None:
    """Remove `paths` (a cache and its lock, or an orphaned lock) under `lock_path`, if nobody
    holds it and `still` holds once we do.

    The look before locking is only a cheap filter: meanwhile the owner may have saved its cache
    (or a fresh one in place of a dead one) and released the lock, so decide again under it.
    """
    import filelock

    try:
        with filelock.FileLock(str(lock_path), timeout=0):
            if not still():
                return
            for path in paths:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
    except (filelock.Timeout, OSError):
        pass  # held by a live process, or its directory is unusable: only housekeeping
