"""The sandbox runs on the server stack server_stack.detect() picks (uvloop + httptools where
they import), its delivery worker's loop too; APIMW_SERVER_STACK=pure and a bad value work as
for the receiver."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from apimw_cli.errors import ConfigError
from apimw_cli.sandbox.server import SandboxConfig, run_in_thread
from tests.sandbox.support import MakeApi, create_webhook, emit, get_webhook, wait_verified
from tests.support.sandbox import MakeEndpoint
from tests.support.waiting import wait_for


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_the_sandbox_serves_on_the_pure_stack_when_told(
    monkeypatch: pytest.MonkeyPatch, make_sandbox_api: MakeApi, make_endpoint: MakeEndpoint
) -> None:
    monkeypatch.setenv("APIMW_SERVER_STACK", "pure")
    config = SandboxConfig(port=0, ephemeral=True, time_scale=3600.0, rate_limit=0)
    with run_in_thread(config) as running:
        api = make_sandbox_api(running)
        hook = make_endpoint(unique_path=True)
        created = create_webhook(api, hook.url)
        assert wait_verified(api, created["id"])["verified"] is True
        emit(api, "message.sent")
        hook.wait_deliveries(1)
        assert get_webhook(api, created["id"])["active"] is True


def test_a_bad_server_stack_setting_is_refused_before_anything_listens(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("APIMW_SERVER_STACK", "turbo")
    port = free_port()
    with pytest.raises(ConfigError), run_in_thread(SandboxConfig(port=port, ephemeral=True)):
        pass
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))  # still free: nothing was left listening


def _apimw(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "apimw_cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )


def test_debug_says_which_stack_the_sandbox_runs_on(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    proc = _apimw(
        "--debug", "sandbox", "--port", "0", "--ephemeral", "--ready-file", str(ready),
        env={"APIMW_SERVER_STACK": "pure"},
    )  # fmt: skip
    try:
        wait_for(lambda: ready.exists() and ready.read_text().strip(), what="the sandbox")
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert "debug: the sandbox runs on asyncio + h11 (pure Python)" in err, err


def test_a_bad_server_stack_setting_is_one_error_line_and_exit_3(tmp_path: Path) -> None:
    proc = _apimw("sandbox", "--port", "0", "--ephemeral", env={"APIMW_SERVER_STACK": "turbo"})
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, (out, err)
    assert "error: APIMW_SERVER_STACK must be auto or pure" in err, err
    assert "Traceback" not in err
    assert "APIMW sandbox" not in out  # refused before the banner, before listening
