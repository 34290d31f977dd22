"""Token caches and their lock files do not pile up: a lock is reused while its cache lives and
removed with it; logging in with a new key forgets the old key's cache; orphaned locks of older
versions are swept, never one that a live process holds."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import filelock
import pytest

from apimw_cli.models import TokenSet
from apimw_cli.settings import TokenStore
from apimw_cli.settings import tokens as token_module
from tests.fakeapi import API_KEY, API_SECRET, FakeApi, envelope
from tests.support.cli import run


def token_files(isolated_env: Path) -> list[str]:
    tokens = isolated_env / "tokens"
    return sorted(p.name for p in tokens.iterdir()) if tokens.exists() else []


def login(api: FakeApi, key: str = API_KEY) -> None:
    result = run("login", "--api-key", key, "--api-secret-stdin", input=API_SECRET + "\n", api=api)
    assert result.exit_code == 0, result.stderr


def test_fifty_logins_leave_one_cache_and_one_lock(isolated_env: Path) -> None:
    api = FakeApi()
    for _ in range(50):
        login(api)
    files = token_files(isolated_env)
    assert len(files) == 2, files
    assert {Path(f).suffix for f in files} == {".json", ".lock"}


def test_fifty_logins_with_new_keys_keep_only_the_last_keys_cache(isolated_env: Path) -> None:
    api = FakeApi()
    api.script("POST auth/token", *(lambda _request: envelope(api.issue()) for _ in range(50)))
    for n in range(50):
        login(api, key=f"ak_test_{n:02d}")
    files = token_files(isolated_env)
    assert len(files) == 2, files
    assert [f for f in files if f.endswith(".lock")] == [
        f + ".lock" for f in files if f.endswith(".json")
    ]


def test_logout_leaves_no_token_file(isolated_env: Path) -> None:
    api = FakeApi()
    login(api)
    assert run("logout", api=api).exit_code == 0
    assert token_files(isolated_env) == []


def test_a_failed_login_leaves_no_lock(isolated_env: Path) -> None:
    result = run(
        "login", "--api-key", API_KEY, "--api-secret-stdin", input="sk_wrong\n", api=FakeApi()
    )
    assert result.exit_code == 3
    assert token_files(isolated_env) == []


def tokens() -> TokenSet:
    return TokenSet(access_token="at_1", expires_at=2e9, refresh_token="rt_1")


def test_saving_a_cache_sweeps_orphaned_locks_but_not_a_held_one(tmp_path: Path) -> None:
    directory = tmp_path / "tokens"
    directory.mkdir()
    (directory / "old-1.json.lock").touch()  # left by an older apimw
    (directory / "old-2.json.lock").touch()
    held = filelock.FileLock(str(directory / "busy.json.lock"))
    with held:  # another process is about to write busy.json
        store = TokenStore(directory / "default.json")
        with store.lock():
            store.save(tokens())
        assert sorted(p.name for p in directory.iterdir()) == [
            "busy.json.lock",
            "default.json",
            "default.json.lock",
        ]


def test_the_lock_of_a_live_cache_is_reused(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens" / "default.json")
    with store.lock():
        store.save(tokens())
    inode = store.lock_path.stat().st_ino
    with store.lock():
        assert store.load() == tokens()
    assert store.lock_path.stat().st_ino == inode


def test_a_cleared_cache_takes_its_lock_with_it(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens" / "default.json")
    with store.lock():
        store.save(tokens())
    with store.lock():
        store.clear()
    assert list(store.path.parent.iterdir()) == []
    with store.lock():  # and the lock works again afterwards
        store.save(tokens())
    assert store.load() == tokens()


def test_token_dirs_are_private_and_tightened(tmp_path: Path) -> None:
    directory = tmp_path / "tokens"
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    store = TokenStore(directory / "default.json")
    with store.lock():
        store.save(tokens())
    assert directory.stat().st_mode & 0o777 == 0o700
    assert store.path.stat().st_mode & 0o777 == 0o600
    assert store.lock_path.stat().st_mode & 0o777 == 0o600


def cache_at(directory: Path, name: str, expired_days_ago: float) -> TokenStore:
    store = TokenStore(directory / name)
    expires = time.time() - expired_days_ago * 86400
    with store.lock():
        store.save(TokenSet(access_token="at_x", expires_at=expires, refresh_token="rt_x"))
    return store


def test_caches_whose_refresh_token_died_are_swept(tmp_path: Path) -> None:
    directory = tmp_path / "tokens"
    dead = cache_at(directory, "sandbox-dead.json", expired_days_ago=31)
    alive = cache_at(directory, "sandbox-alive.json", expired_days_ago=29)
    damaged = directory / "damaged.json"
    damaged.write_text("{not json")
    stamp = time.time() - 40 * 86400
    os.utime(damaged, (stamp, stamp))
    cache_at(directory, "default.json", expired_days_ago=-1)
    remaining = sorted(p.name for p in directory.iterdir())
    assert remaining == [
        "default.json",
        "default.json.lock",
        "sandbox-alive.json",
        "sandbox-alive.json.lock",
    ]
    assert not dead.path.exists() and alive.load() is not None


def test_a_dead_cache_another_process_holds_is_left(tmp_path: Path) -> None:
    directory = tmp_path / "tokens"
    dead = cache_at(directory, "sandbox-dead.json", expired_days_ago=31)
    with filelock.FileLock(str(dead.lock_path)):
        cache_at(directory, "default.json", expired_days_ago=-1)
        assert dead.path.exists()


def meanwhile(monkeypatch: pytest.MonkeyPatch, other_process: Callable[[], None]) -> None:
    """Run `other_process` once, between the sweep's look at a file and its taking the lock."""
    remove = token_module._remove_unless_held
    pending = [other_process]

    def remove_after_the_other_process(*args: Any, **kwargs: Any) -> None:
        if pending:
            pending.pop()()
        remove(*args, **kwargs)

    monkeypatch.setattr(token_module, "_remove_unless_held", remove_after_the_other_process)


def test_a_lock_whose_cache_is_saved_while_the_sweep_looks_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two logins at once: p1's lock has no cache yet when p0's sweep looks, then p1 saves its
    cache and lets go before the sweep takes the lock. The sweep must not take p1's lock away."""
    directory = tmp_path / "tokens"
    other = TokenStore(directory / "p1.json")
    directory.mkdir()
    other.lock_path.touch()  # p1 holds it; the sweep's look sees no p1.json

    def other_saves() -> None:
        with other.lock():
            other.save(tokens())

    meanwhile(monkeypatch, other_saves)
    store = TokenStore(directory / "p0.json")
    with store.lock():
        store.save(tokens())
    assert sorted(p.name for p in directory.iterdir()) == [
        "p0.json",
        "p0.json.lock",
        "p1.json",
        "p1.json.lock",
    ]


def test_a_dead_cache_renewed_while_the_sweep_looks_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "tokens"
    renewed = cache_at(directory, "sandbox.json", expired_days_ago=31)

    def other_renews() -> None:
        with renewed.lock():
            renewed.save(tokens())

    meanwhile(monkeypatch, other_renews)
    cache_at(directory, "default.json", expired_days_ago=-1)
    assert renewed.load() == tokens()
    assert renewed.lock_path.exists()
