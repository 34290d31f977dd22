"""Concurrent `apimw` processes changing config.toml keep every change (the read-modify-write
runs under the config file's lock), and logins leave no pile of lock files."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest

from apimw_cli.settings import ENV_CONFIG_DIR, SANDBOX_API_KEY, SANDBOX_API_SECRET, ConfigFile
from tests.fakeapi import API_KEY, API_SECRET, FakeApi, envelope
from tests.support.cli import run

SHARED_KEYS = {
    "output": ("json", "json"),
    "timeout": ("7", 7.0),
    "ngrok_region": ("eu", "eu"),
    "ngrok_path": ("/opt/ngrok", "/opt/ngrok"),
    "api_base": ("https://eu.apimw.test/v1", "https://eu.apimw.test/v1"),
}


def start(args: list[str], config: Path, stdin: str = "") -> subprocess.Popen[str]:
    env = {**os.environ, ENV_CONFIG_DIR: str(config)}
    process = subprocess.Popen(
        [sys.executable, "-m", "apimw_cli", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdin is not None
    process.stdin.write(stdin)
    process.stdin.close()
    process.stdin = None  # written: communicate() only reads
    return process


@pytest.mark.slow
def test_twenty_processes_at_once_lose_nothing(isolated_env: Path) -> None:
    """10 logins into 10 profiles, 5 `config set` of different keys into one profile and
    5 into profiles of their own, all started together."""
    processes: list[subprocess.Popen[str]] = []
    for n in range(10):
        login = ["-p", f"p{n}", "login", "--api-key", f"ak_test_{n}", "--api-secret-stdin"]
        processes.append(start([*login, "--no-verify"], isolated_env, f"sk_test_{n}\n"))
    for key, (raw, _) in SHARED_KEYS.items():
        processes.append(start(["-p", "shared", "config", "set", key, raw], isolated_env))
    for n in range(5):
        processes.append(
            start(["-p", f"c{n}", "config", "set", "timeout", str(n + 1)], isolated_env)
        )
    for process in processes:
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr
    profiles = tomllib.loads((isolated_env / "config.toml").read_text())["profiles"]
    for n in range(10):
        assert profiles[f"p{n}"] == {"api_key": f"ak_test_{n}", "api_secret": f"sk_test_{n}"}
    assert profiles["shared"] == {key: value for key, (_, value) in SHARED_KEYS.items()}
    for n in range(5):
        assert profiles[f"c{n}"] == {"timeout": float(n + 1)}
    assert len(profiles) == 16
    assert (isolated_env / "config.toml").stat().st_mode & 0o777 == 0o600
    leftovers = [p.name for p in isolated_env.iterdir() if p.name.startswith(".config.toml")]
    assert leftovers == []  # no temporary file of an atomic write is left behind


@pytest.mark.slow
def test_concurrent_set_and_unset_of_one_profile(isolated_env: Path) -> None:
    """`config unset` is a read-modify-write too: it removes its key and nothing else."""
    setup = start(["config", "set", "ngrok_region", "eu"], isolated_env)
    setup.communicate(timeout=60)
    assert setup.returncode == 0
    processes = [
        start(["config", "unset", "ngrok_region"], isolated_env),
        *(
            start(["config", "set", key, raw], isolated_env)
            for key, (raw, _) in SHARED_KEYS.items()
            if key != "ngrok_region"
        ),
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr
    profile = tomllib.loads((isolated_env / "config.toml").read_text())["profiles"]["default"]
    assert profile == {k: v for k, (_, v) in SHARED_KEYS.items() if k != "ngrok_region"}


@pytest.mark.slow
def test_verified_logins_against_a_sandbox_at_once(
    isolated_env: Path, running_sandbox: Any
) -> None:
    """Ten `login`s that each check the credentials (token cache and config file both locked)
    and ten `config set`s, all at once: every profile and key is there, one cache each."""
    base = running_sandbox.base_url
    sandbox_key = ("--api-key", SANDBOX_API_KEY, "--api-secret-stdin")
    processes = [
        start(
            ["--api-base", base, "-p", f"p{n}", "login", *sandbox_key],
            isolated_env,
            SANDBOX_API_SECRET + "\n",
        )
        for n in range(10)
    ]
    processes += [
        start(["-p", f"p{n}", "config", "set", "timeout", str(n + 1)], isolated_env)
        for n in range(10)
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr
    profiles = tomllib.loads((isolated_env / "config.toml").read_text())["profiles"]
    for n in range(10):
        assert profiles[f"p{n}"] == {
            "api_key": SANDBOX_API_KEY,
            "api_secret": SANDBOX_API_SECRET,
            "api_base": base,
            "timeout": float(n + 1),
        }
    caches = sorted(p.name for p in (isolated_env / "tokens").glob("*.json"))
    locks = sorted(p.name for p in (isolated_env / "tokens").glob("*.lock"))
    assert len(caches) == 10
    assert locks == [name + ".lock" for name in caches]


def test_logout_keeps_credentials_a_concurrent_login_wrote(isolated_env: Path) -> None:
    """logout reads the profile, revokes (a network call), then forgets what it read: a login
    into the same profile meanwhile is not undone."""
    api = FakeApi()
    login = ("login", "--api-key", API_KEY, "--api-secret-stdin")
    assert run(*login, input=API_SECRET + "\n", api=api).exit_code == 0
    other = ConfigFile(isolated_env / "config.toml")

    def revoke_while_another_login_lands(request: httpx.Request) -> httpx.Response:
        other.update_profile("default", api_key="ak_test_new", api_secret="sk_test_new")
        return envelope({"revoked": True})

    api.script("POST auth/revoke", revoke_while_another_login_lands)
    assert run("logout", api=api).exit_code == 0
    profile = tomllib.loads((isolated_env / "config.toml").read_text())["profiles"]["default"]
    assert profile == {"api_key": "ak_test_new", "api_secret": "sk_test_new"}


def test_logout_forgets_its_own_credentials_and_keeps_other_keys(isolated_env: Path) -> None:
    api = FakeApi()
    assert run("config", "set", "output", "json").exit_code == 0
    login = ("login", "--api-key", API_KEY, "--api-secret-stdin")
    assert run(*login, input=API_SECRET + "\n", api=api).exit_code == 0
    assert run("logout", api=api).exit_code == 0
    profile = tomllib.loads((isolated_env / "config.toml").read_text())["profiles"]["default"]
    assert profile == {"output": "json"}
