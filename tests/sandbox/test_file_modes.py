"""The sandbox's database holds webhook secrets and the JWT signing key: it and its -wal and
-shm files are 0600, in a 0700 directory, whatever the umask, and an older sandbox's 0644 files
in a 0755 directory are tightened when it opens them."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from apimw_cli.sandbox.config import DB_NAME
from apimw_cli.sandbox.store import Store
from apimw_cli.settings import ENV_DATA_DIR
from tests.sandbox.support import MakeApi, MakeSandbox, create_webhook

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def database_files(directory: Path) -> list[Path]:
    files = [directory / DB_NAME, directory / f"{DB_NAME}-wal", directory / f"{DB_NAME}-shm"]
    assert all(f.exists() for f in files), sorted(p.name for p in directory.iterdir())
    return files


@contextmanager
def umask(value: int) -> Iterator[None]:
    previous = os.umask(value)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o000])
def test_a_new_database_is_private_whatever_the_umask(tmp_path: Path, mask: int) -> None:
    directory = tmp_path / "made" / "here"
    with umask(mask):
        store = Store(directory / DB_NAME)
    try:
        store.webhooks.create(
            url="https://e.test/",
            events=["message.sent"],
            secret="whsec_s",
            active=True,
            description=None,
            now=0.0,
        )
        assert {f.name: oct(mode(f)) for f in database_files(directory)} == {
            DB_NAME: "0o600",
            f"{DB_NAME}-wal": "0o600",
            f"{DB_NAME}-shm": "0o600",
        }
        assert oct(mode(directory)) == "0o700"
        assert oct(mode(directory.parent)) == "0o700", "a parent made for it is private too"
    finally:
        store.close()


def test_an_older_sandbox_files_are_tightened_in_the_data_dir(
    tmp_path: Path,
    make_sandbox: MakeSandbox,
    make_sandbox_api: MakeApi,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The default place (`sandbox/` in the data directory) is the sandbox's own: its
    directory is made 0700 too."""
    monkeypatch.setenv(ENV_DATA_DIR, str(tmp_path / "data"))
    directory = tmp_path / "data" / "sandbox"
    Store(directory / DB_NAME).close()
    directory.chmod(0o755)
    for each in (directory / DB_NAME, directory / f"{DB_NAME}-wal", directory / f"{DB_NAME}-shm"):
        each.touch()
        each.chmod(0o644)
    api = make_sandbox_api(make_sandbox(ephemeral=False))
    create_webhook(api, "http://127.0.0.1:1/hook", secret="whsec_secret")
    assert all(mode(f) == 0o600 for f in database_files(directory))
    assert mode(directory) == 0o700


def test_a_data_dir_of_the_users_keeps_its_mode_and_the_files_are_private(
    tmp_path: Path, make_sandbox: MakeSandbox, make_sandbox_api: MakeApi
) -> None:
    """`--data-dir .` must not chmod the user's directory; the files in it are private."""
    tmp_path.chmod(0o755)
    api = make_sandbox_api(make_sandbox(data_dir=tmp_path))
    create_webhook(api, "http://127.0.0.1:1/hook", secret="whsec_secret")
    assert all(mode(f) == 0o600 for f in database_files(tmp_path))
    assert mode(tmp_path) == 0o755
