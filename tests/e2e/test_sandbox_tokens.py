"""Issue 12: every `--sandbox` command works after the sandbox restarts in memory, is reset, or
is replaced by another one on the same address; `apimw --sandbox logout` forgets its tokens.

The sandbox signs its tokens with a key that is new per in-memory or reset instance, so a token
cached for one is refused by the next (INVALID_TOKEN): the client must log in again, silently.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import filelock
import pytest

from apimw_cli.sandbox.server import RunningSandbox, SandboxConfig, run_in_thread
from apimw_cli.settings import ENV_SANDBOX_URL, SANDBOX_API_BASE, SANDBOX_API_SECRET, Settings
from apimw_cli.sockets import port_is_free
from tests.support.cli import run
from tests.support.waiting import wait_for_file

DEFAULT_PORT = 8787


def apimw(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`apimw ARGS` as its own process, in this test's home (the isolated environment)."""
    return subprocess.run(
        [sys.executable, "-m", "apimw_cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class Sandboxes:
    """`apimw sandbox ...` processes, stopped with Ctrl-C; killed if a test fails first."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.procs: list[subprocess.Popen[str]] = []

    def start(self, *args: str) -> tuple[subprocess.Popen[str], str]:
        ready = self.tmp_path / f"sandbox-{len(self.procs)}.ready"
        proc = subprocess.Popen(
            [sys.executable, "-m", "apimw_cli", "sandbox", "--ready-file", str(ready), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.procs.append(proc)
        return proc, wait_for_file(ready, proc)

    @staticmethod
    def stop(proc: subprocess.Popen[str]) -> None:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


@pytest.fixture
def sandboxes(tmp_path: Path) -> Iterator[Sandboxes]:
    started = Sandboxes(tmp_path)
    yield started
    started.close()


@pytest.fixture
def default_port() -> Iterator[None]:
    """The sandbox's default address, 127.0.0.1:8787, which `listen --sandbox` starts one on.

    A lock keeps two test runs on this machine from sharing it; a port held by anything else
    skips the test (it would use or trip over that other server)."""
    lock = filelock.FileLock(os.path.join(tempfile.gettempdir(), "apimw-tests-8787.lock"))
    with lock.acquire(timeout=300):
        if not port_is_free("127.0.0.1", DEFAULT_PORT):
            pytest.skip(f"127.0.0.1:{DEFAULT_PORT} is in use")
        yield


def whoami() -> dict[str, object]:
    result = run("--sandbox", "-o", "json", "whoami")
    assert result.exit_code == 0, result.stderr
    assert "error" not in result.stderr
    data: dict[str, object] = json.loads(result.stdout)
    return data


def cached_access_token() -> str | None:
    settings = Settings(sandbox=True)
    tokens = settings.token_store(settings.credentials()).load()
    return tokens.access_token if tokens else None


# --- the README's first command, twice -----------------------------------------------------


def quickstart() -> subprocess.CompletedProcess[str]:
    # The README's `apimw listen --sandbox --demo`, with an end: the first demo event.
    return apimw(
        "listen", "--sandbox", "--demo", "--port", "0",
        "--expect", "message.sent", "--timeout", "30s",
    )  # fmt: skip


@pytest.mark.slow
def test_readme_first_command_twice_in_a_row(default_port: None) -> None:
    for attempt in (1, 2):
        done = quickstart()
        assert done.returncode == 0, f"run {attempt}: {done.stderr}"
        assert f"started a sandbox at {SANDBOX_API_BASE}" in done.stderr
        assert "message.sent" in done.stdout + done.stderr
        assert "error" not in done.stderr
        assert "INVALID_TOKEN" not in done.stdout + done.stderr


@pytest.mark.slow
def test_readme_order_quickstart_then_sandbox_demo_then_whoami(
    default_port: None, sandboxes: Sandboxes
) -> None:
    first = quickstart()
    assert first.returncode == 0, first.stderr
    proc, url = sandboxes.start("--demo")  # persistent, at the default address
    assert url == SANDBOX_API_BASE
    assert whoami()["api_base"] == SANDBOX_API_BASE
    sandboxes.stop(proc)
    proc, _ = sandboxes.start("--reset")
    assert whoami()["api_base"] == SANDBOX_API_BASE
    sandboxes.stop(proc)
    again = quickstart()  # in memory again, after the persistent one
    assert again.returncode == 0, again.stderr
    assert "INVALID_TOKEN" not in again.stderr


# --- restart, reset, ephemeral -> persistent on one address --------------------------------


def test_whoami_after_sandbox_reset(
    sandboxes: Sandboxes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = str(tmp_path / "sandbox-data")
    proc, url = sandboxes.start("--port", "0", "--data-dir", data)
    port = url.split(":")[-1].split("/")[0]
    monkeypatch.setenv(ENV_SANDBOX_URL, url)
    whoami()
    first = cached_access_token()
    sandboxes.stop(proc)

    proc, _ = sandboxes.start("--port", port, "--data-dir", data)  # a plain restart
    whoami()
    assert cached_access_token() == first  # its key persisted: the token still works
    sandboxes.stop(proc)

    proc, _ = sandboxes.start("--port", port, "--data-dir", data, "--reset")  # a new key
    whoami()
    assert cached_access_token() not in (None, first)
    done = apimw("--sandbox", "webhooks", "list")  # another process, the same cache
    assert done.returncode == 0, done.stderr
    sandboxes.stop(proc)


def test_ephemeral_then_persistent_then_ephemeral_on_one_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ephemeral = SandboxConfig(port=0, ephemeral=True, rate_limit=0)
    with run_in_thread(ephemeral) as running:
        port = running.port
        monkeypatch.setenv(ENV_SANDBOX_URL, running.base_url)
        whoami()
        hook = ("--sandbox", "webhooks", "register", "--url", "http://localhost:3000/hooks")
        registered = run(*hook, "--events", "message.sent")
        assert registered.exit_code == 0, registered.stderr
    persistent = SandboxConfig(port=port, data_dir=tmp_path / "sandbox-data", rate_limit=0)
    for config in (persistent, SandboxConfig(port=port, ephemeral=True, rate_limit=0)):
        with run_in_thread(config):
            whoami()
            listed = run("--sandbox", "-o", "json", "webhooks", "list")
            assert listed.exit_code == 0, listed.stderr
            assert json.loads(listed.stdout) == []  # a new sandbox: nothing of the old one's
            sent = run("--sandbox", "messages", "send", "--to", "+14155550123", "--text", "hi")
            assert sent.exit_code == 0, sent.stderr


def test_a_post_after_a_restart_is_done_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first try of the POST was refused for its token: the retry does not make a twin."""
    with run_in_thread(SandboxConfig(port=0, ephemeral=True, rate_limit=0)) as running:
        port = running.port
        monkeypatch.setenv(ENV_SANDBOX_URL, running.base_url)
        whoami()
    with run_in_thread(SandboxConfig(port=port, ephemeral=True, rate_limit=0)):
        result = run(
            "--sandbox", "webhooks", "register",
            "--url", "http://localhost:3000/hooks", "--events", "message.sent",
        )  # fmt: skip
        assert result.exit_code == 0, result.stderr
        listed = run("--sandbox", "-o", "json", "webhooks", "list")
        assert len(json.loads(listed.stdout)) == 1


def test_recovery_is_silent_and_debug_tells_without_a_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[str] = []
    with run_in_thread(SandboxConfig(port=0, ephemeral=True, rate_limit=0)) as running:
        port = running.port
        monkeypatch.setenv(ENV_SANDBOX_URL, running.base_url)
        whoami()
        seen.append(str(cached_access_token()))
    with run_in_thread(SandboxConfig(port=port, ephemeral=True, rate_limit=0)):
        quiet = run("--sandbox", "whoami")
        assert quiet.exit_code == 0, quiet.stderr
        assert quiet.stderr == ""
        seen.append(str(cached_access_token()))
    with run_in_thread(SandboxConfig(port=port, ephemeral=True, rate_limit=0)):
        loud = run("--sandbox", "--debug", "whoami")
        assert loud.exit_code == 0, loud.stderr
        assert "debug: the API refused the cached access token (INVALID_TOKEN)" in loud.stderr
        seen.append(str(cached_access_token()))
    assert len(set(seen)) == 3
    for secret in (*seen, SANDBOX_API_SECRET):
        assert secret not in loud.stdout + loud.stderr


# --- apimw --sandbox logout ----------------------------------------------------------------


def test_sandbox_logout_forgets_the_cached_tokens(running_sandbox: RunningSandbox) -> None:
    whoami()
    assert cached_access_token() is not None
    result = run("--sandbox", "logout")
    assert result.exit_code == 0, result.stderr
    assert "forgot the sandbox's cached tokens" in result.stderr
    assert cached_access_token() is None
    whoami()  # the fixed credentials log in again
    assert cached_access_token() is not None


def test_sandbox_logout_json_and_with_nothing_cached(running_sandbox: RunningSandbox) -> None:
    result = run("--sandbox", "-o", "json", "logout")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["forgotten"] is False and data["revoked"] is False
    whoami()
    data = json.loads(run("--sandbox", "-o", "json", "logout").stdout)
    assert data["forgotten"] is True
    plain = run("--sandbox", "logout")
    assert plain.exit_code == 0
    assert "nothing to forget" in plain.stderr


def test_sandbox_logout_after_a_restart_then_whoami(monkeypatch: pytest.MonkeyPatch) -> None:
    with run_in_thread(SandboxConfig(port=0, ephemeral=True, rate_limit=0)) as running:
        port = running.port
        monkeypatch.setenv(ENV_SANDBOX_URL, running.base_url)
        whoami()
    with run_in_thread(SandboxConfig(port=port, ephemeral=True, rate_limit=0)):
        assert run("--sandbox", "logout").exit_code == 0
        whoami()


def test_sandbox_logout_leaves_profiles_alone(
    running_sandbox: RunningSandbox, isolated_env: Path
) -> None:
    config = isolated_env / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('[profiles.default]\napi_key = "ak_live_x"\napi_secret = "sk_live_y"\n')
    assert run("--sandbox", "logout").exit_code == 0
    assert "sk_live_y" in config.read_text()


@pytest.mark.slow
@pytest.mark.parametrize("lines", [1, 2, 3])
def test_the_quickstart_piped_into_head_stops_cleanly(default_port: None, lines: int) -> None:
    """`apimw listen --sandbox --demo --format ndjson | head -n N`: the reader leaves while
    listen is still setting up its own sandbox, or just after. listen stops, exit 0; the
    closed pipe is not a sandbox that could not start."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "apimw_cli", "listen", "--sandbox", "--demo", "--port", "0",
         "--format", "ndjson"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    try:
        for _ in range(lines):
            assert proc.stdout.readline().startswith(b'{"schema"')
        proc.stdout.close()  # head has its lines and exits
        code = proc.wait(40)
    finally:
        proc.kill()
        proc.wait()
        err = proc.stderr.read().decode()
        proc.stdout.close()
        proc.stderr.close()
    assert code == 0, err
    assert "cannot start" not in err and "Traceback" not in err, err
