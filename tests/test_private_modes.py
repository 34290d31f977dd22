"""Files holding secrets are 0600 in 0700 directories, and an existing directory of ours that
others could read is tightened: the config dir (config.toml, tokens), listen's records."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from apimw_cli.session import records
from apimw_cli.settings import ENV_CONFIG_DIR
from tests.fakeapi import API_KEY, API_SECRET, FakeApi
from tests.support.cli import run


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_an_open_config_dir_is_tightened_on_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_CONFIG_DIR)  # the platform's: XDG_CONFIG_HOME/apimw
    own = tmp_path / "home" / ".config" / "apimw"
    own.mkdir(parents=True)
    own.chmod(0o755)
    assert run("config", "set", "output", "json").exit_code == 0
    assert mode(own) == 0o700
    assert mode(own / "config.toml") == 0o600
    assert mode(own / "config.toml.lock") == 0o600


def test_a_config_dir_the_user_named_is_never_chmodded(isolated_env: Path) -> None:
    isolated_env.mkdir(mode=0o755)
    isolated_env.chmod(0o755)  # APIMW_CONFIG_DIR=$HOME, say
    assert run("config", "set", "output", "json").exit_code == 0
    assert mode(isolated_env) == 0o755
    assert mode(isolated_env / "config.toml") == 0o600


def test_login_leaves_only_private_files(isolated_env: Path) -> None:
    result = run(
        "login", "--api-key", API_KEY, "--api-secret-stdin", input=API_SECRET + "\n", api=FakeApi()
    )
    assert result.exit_code == 0, result.stderr
    for path in [isolated_env, *isolated_env.rglob("*")]:
        assert mode(path) == (0o700 if path.is_dir() else 0o600), path


def test_an_open_records_dir_is_tightened(isolated_env: Path) -> None:
    directory = records.records_dir()
    directory.mkdir(parents=True)
    directory.chmod(0o755)
    saved = records.Record("0123456789ab", "whk_1", "https://h.test/x", "b", "default", 1, "h", "t")
    records.save(saved)
    assert mode(directory) == 0o700
    assert mode(directory / "0123456789ab.json") == 0o600
