"""Faults of the config file and directory: each is one `error:` line with a hint and exit 3,
never a traceback; a command that only reads from the API goes on without its token cache."""

from __future__ import annotations

import errno
import os
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from apimw_cli.settings import ENV_API_KEY, ENV_API_SECRET, ConfigFile
from tests.fakeapi import API_KEY, API_SECRET, FakeApi, envelope
from tests.support.cli import run


def assert_config_error(result: Any, *words: str) -> None:
    """Exit 3, one error line and one hint line on stderr, no traceback."""
    assert result.exit_code == 3, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert any(line.startswith("hint:") for line in lines), result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr


def _directory(path: Path) -> None:
    path.mkdir()


def _dev_zero(path: Path) -> None:
    path.symlink_to("/dev/zero")


def _fifo(path: Path) -> None:
    os.mkfifo(path)  # nobody writes it: reading it would block forever


def _oversized(path: Path) -> None:
    path.write_text("# " + "x" * (2 * 1024 * 1024) + "\n")


def _deeply_nested(path: Path) -> None:
    path.write_text("x = " + "[" * 50_000 + "]" * 50_000 + "\n")


def _not_utf8(path: Path) -> None:
    path.write_bytes(b'[profiles.default]\noutput = "\xff\xfe"\n')


DAMAGED: dict[str, tuple[Callable[[Path], None], str]] = {
    "a directory": (_directory, "is a directory"),
    "a link to /dev/zero": (_dev_zero, "not a regular file"),
    "a FIFO": (_fifo, "not a regular file"),
    "oversized": (_oversized, "larger than 1 MB"),
    "nested 50,000 deep": (_deeply_nested, "nested too deeply"),
    "not UTF-8": (_not_utf8, "not UTF-8"),
}
COMMANDS = {
    "config get": ("config", "get", "output"),
    "config set": ("config", "set", "output", "json"),
    "config unset": ("config", "unset", "output"),
    "config show": ("config", "show"),
    "login": ("login", "--api-key", API_KEY, "--api-secret-stdin", "--no-verify"),
    "logout": ("logout",),
}


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("damage", list(DAMAGED))
def test_a_damaged_config_file_is_one_error_line(
    isolated_env: Path, damage: str, command: str
) -> None:
    isolated_env.mkdir(parents=True, exist_ok=True)
    make, words = DAMAGED[damage]
    make(isolated_env / "config.toml")
    result = run(*COMMANDS[command], input=API_SECRET + "\n")
    assert_config_error(result, str(isolated_env / "config.toml"), words)


def test_a_damaged_file_is_never_replaced(isolated_env: Path) -> None:
    isolated_env.mkdir()
    _not_utf8(isolated_env / "config.toml")
    before = (isolated_env / "config.toml").read_bytes()
    assert run("config", "set", "output", "json").exit_code == 3
    assert (isolated_env / "config.toml").read_bytes() == before


def test_a_damaged_file_under_a_debug_flag_still_exits_3(isolated_env: Path) -> None:
    isolated_env.mkdir()
    _deeply_nested(isolated_env / "config.toml")
    result = run("--debug", "config", "get", "output")
    assert result.exit_code == 3
    assert "nested too deeply" in result.stderr


# --- a directory apimw cannot write ---------------------------------------------------------


@pytest.fixture
def read_only(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The config dir as a read-only file system would have it (tests may run as root, whom
    chmod does not stop): creating, writing, replacing or removing anything in it fails."""
    isolated_env.mkdir(parents=True, exist_ok=True)
    root = str(isolated_env)
    writes = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

    def inside(path: Any) -> bool:
        return str(os.path.abspath(os.fspath(path))).startswith(root)

    def refuse(path: Any) -> OSError:
        return OSError(errno.EROFS, os.strerror(errno.EROFS), os.fspath(path))

    real_open, real_mkdir = os.open, os.mkdir
    real_replace, real_unlink, real_chmod = os.replace, os.unlink, os.chmod

    def guarded_open(path: Any, flags: int, mode: int = 0o777, **kw: Any) -> int:
        if inside(path) and flags & writes:
            raise refuse(path)
        return real_open(path, flags, mode, **kw)

    def guarded(real: Callable[..., Any]) -> Callable[..., Any]:
        def call(path: Any, *args: Any, **kw: Any) -> Any:
            if inside(path):
                raise refuse(path)
            return real(path, *args, **kw)

        return call

    monkeypatch.setattr(os, "open", guarded_open)
    monkeypatch.setattr(os, "mkdir", guarded(real_mkdir))
    monkeypatch.setattr(os, "replace", guarded(real_replace))
    monkeypatch.setattr(os, "unlink", guarded(real_unlink))
    monkeypatch.setattr(os, "chmod", guarded(real_chmod))
    yield isolated_env


@pytest.mark.parametrize(
    "args",
    [
        ("config", "set", "output", "json"),
        ("config", "unset", "output"),
        ("login", "--api-key", API_KEY, "--api-secret-stdin", "--no-verify"),
        ("login", "--api-key", API_KEY, "--api-secret-stdin"),
    ],
    ids=["config set", "config unset", "login --no-verify", "login"],
)
def test_a_read_only_config_dir_is_one_error_line(read_only: Path, args: tuple[str, ...]) -> None:
    result = run(*args, input=API_SECRET + "\n", api=FakeApi())
    assert_config_error(result, "Read-only file system", "writable")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only directory")
def test_a_really_read_only_config_dir(isolated_env: Path) -> None:
    isolated_env.mkdir()
    isolated_env.chmod(0o500)
    try:
        result = run("config", "set", "output", "json")
    finally:
        isolated_env.chmod(0o700)
    assert_config_error(result, "Permission denied")


def test_a_full_disk_is_one_error_line_and_keeps_the_file(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run("config", "set", "output", "json").exit_code == 0
    before = (isolated_env / "config.toml").read_bytes()

    def full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    result = run("config", "set", "timeout", "5")
    assert_config_error(result, "No space left on device", "free some space")
    assert (isolated_env / "config.toml").read_bytes() == before
    assert [p.name for p in isolated_env.iterdir() if p.name.startswith(".")] == []


# --- read-only commands without a token cache ----------------------------------------------------


@pytest.mark.parametrize(
    ("args", "route"),
    [(("whoami",), None), (("webhooks", "list"), "GET webhooks")],
    ids=["whoami", "webhooks list"],
)
def test_reading_commands_go_on_without_the_token_cache(
    read_only: Path, args: tuple[str, ...], route: str | None
) -> None:
    api = FakeApi()
    if route is not None:
        page = {"page": 1, "limit": 20, "total": 0, "has_more": False}
        api.script(route, envelope({"webhooks": [], "pagination": page}))
    env = {ENV_API_KEY: API_KEY, ENV_API_SECRET: API_SECRET}
    result = run(*args, env=env, api=api)
    assert result.exit_code == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, result.stderr
    assert "without caching" in warnings[0]
    assert "Traceback" not in result.stderr
    assert not (read_only / "tokens").exists()


def test_a_token_cache_on_a_full_disk_warns_once(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    env = {ENV_API_KEY: API_KEY, ENV_API_SECRET: API_SECRET}
    result = run("whoami", env=env, api=FakeApi())
    assert result.exit_code == 0, result.stderr
    assert result.stderr.count("warning:") == 1
    assert "No space left on device" in result.stderr


def test_config_file_reads_what_another_process_wrote_before_changing(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    mine, theirs = ConfigFile(path), ConfigFile(path)
    assert mine.profile("default") == {}  # read (and kept) before the other process writes
    theirs.update_profile("other", output="json")
    mine.update_profile("default", timeout=5.0)
    profiles = tomllib.loads(path.read_text())["profiles"]
    assert profiles == {"other": {"output": "json"}, "default": {"timeout": 5.0}}


@pytest.mark.parametrize("args", [("whoami",), ("webhooks", "list")], ids=["whoami", "list"])
def test_sandbox_reading_commands_go_on_without_the_token_cache(
    running_sandbox: object, read_only: Path, args: tuple[str, ...]
) -> None:
    result = run("--sandbox", *args)
    assert result.exit_code == 0, result.stderr
    assert result.stderr.count("warning:") == 1, result.stderr
    assert "without caching" in result.stderr


def test_sandbox_logout_in_a_read_only_config_dir_is_one_error_line(read_only: Path) -> None:
    assert_config_error(run("--sandbox", "logout"), "Read-only file system")
