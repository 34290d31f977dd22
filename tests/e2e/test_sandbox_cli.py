"""`apimw sandbox` as a user runs it: a real process, stopped with Ctrl-C or SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from apimw_cli.settings import ENV_DATA_DIR, ENV_SANDBOX_URL, SANDBOX_API_KEY, SANDBOX_API_SECRET
from tests.support.cli import run
from tests.support.waiting import wait_for_file


def launch_sandbox(
    tmp_path: Path, *extra: str, output: str = "table"
) -> tuple[subprocess.Popen[str], str, Path]:
    ready = tmp_path / "ready"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "apimw_cli",
            "-o",
            output,
            "sandbox",
            "--port",
            "0",
            "--ready-file",
            str(ready),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, ENV_DATA_DIR: str(tmp_path / "data")},
    )
    return proc, wait_for_file(ready, proc), ready


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def token(base_url: str) -> str:
    answer = httpx.post(
        f"{base_url}/auth/token",
        json={"api_key": SANDBOX_API_KEY, "api_secret": SANDBOX_API_SECRET},
    )
    return str(answer.json()["data"]["access_token"])


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_stops_cleanly_on_signal(
    sig: signal.Signals, tmp_path: Path, procs: list[subprocess.Popen[str]]
) -> None:
    proc, url, ready = launch_sandbox(tmp_path, "--ephemeral")
    procs.append(proc)
    assert httpx.get(f"{url}/sandbox/health").json()["data"]["status"] == "ok"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert f"sandbox stopped ({sig.name})" in err
    assert "Traceback" not in err
    assert not ready.exists()


def test_banner_shows_address_and_credentials(
    tmp_path: Path, procs: list[subprocess.Popen[str]]
) -> None:
    proc, url, _ = launch_sandbox(tmp_path, "--ephemeral")
    procs.append(proc)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=20)
    assert url in out
    assert SANDBOX_API_KEY in out and SANDBOX_API_SECRET in out
    assert f"{ENV_SANDBOX_URL}={url}" in out  # not the default port: says how to reach it


def test_json_output_is_ndjson_records(tmp_path: Path, procs: list[subprocess.Popen[str]]) -> None:
    proc, url, _ = launch_sandbox(tmp_path, "--ephemeral", output="json")
    procs.append(proc)
    token(url)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=20)
    records = [json.loads(line) for line in out.splitlines()]
    assert records[0]["record"] == "ready" and records[0]["base_url"] == url
    assert any(r["record"] == "request" and r["path"] == "/v1/auth/token" for r in records)
    assert all(r["schema"] == 1 for r in records)


def test_data_persists_across_restarts(tmp_path: Path, procs: list[subprocess.Popen[str]]) -> None:
    data = tmp_path / "sandbox-data"
    proc, url, _ = launch_sandbox(tmp_path, "--data-dir", str(data))
    procs.append(proc)
    bearer = {"Authorization": f"Bearer {token(url)}"}
    created = httpx.post(
        f"{url}/webhooks",
        json={"url": "https://example.com/hook", "events": ["message.sent"]},
        headers=bearer,
    ).json()["data"]
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=20)
    proc2, url2, _ = launch_sandbox(tmp_path, "--data-dir", str(data))
    procs.append(proc2)
    listed = httpx.get(f"{url2}/webhooks", headers=bearer).json()["data"]["webhooks"]  # old token
    assert [w["id"] for w in listed] == [created["id"]]
    proc2.send_signal(signal.SIGINT)
    proc2.communicate(timeout=20)
    proc3, url3, _ = launch_sandbox(tmp_path, "--data-dir", str(data), "--reset")
    procs.append(proc3)
    assert (
        httpx.get(f"{url3}/webhooks", headers={"Authorization": f"Bearer {token(url3)}"}).json()[
            "data"
        ]["webhooks"]
        == []
    )


def test_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = run("sandbox", "--port", str(port), "--ephemeral")
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "--port 0" in result.stderr


def test_api_secret_env_must_be_set() -> None:
    result = run("sandbox", "--api-secret-env", "NOPE_SECRET", "--ephemeral")
    assert result.exit_code == 2
    assert "NOPE_SECRET" in result.stderr


def test_custom_secret_is_accepted_and_masked(
    tmp_path: Path, procs: list[subprocess.Popen[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_SANDBOX_SECRET", "sk_test_custom_0123456789abcdef")
    proc, url, _ = launch_sandbox(tmp_path, "--ephemeral", "--api-secret-env", "MY_SANDBOX_SECRET")
    procs.append(proc)
    ok = httpx.post(
        f"{url}/auth/token",
        json={"api_key": SANDBOX_API_KEY, "api_secret": "sk_test_custom_0123456789abcdef"},
    )
    assert ok.status_code == 200
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert "0123456789abcdef" not in out + err


def test_demo_makes_traffic(tmp_path: Path, procs: list[subprocess.Popen[str]]) -> None:
    proc, _, _ = launch_sandbox(tmp_path, "--ephemeral", "--demo", output="json")
    procs.append(proc)
    assert proc.stdout is not None
    deadline = time.monotonic() + 15
    seen: set[str] = set()
    while time.monotonic() < deadline and "event" not in seen:
        line = proc.stdout.readline()
        if line:
            seen.add(json.loads(line)["record"])
    assert "event" in seen


def test_credentials_prints_the_fixed_values() -> None:
    result = run("-o", "json", "sandbox", "credentials")
    assert json.loads(result.stdout) == {
        "api_base": "http://127.0.0.1:8787/v1",
        "api_key": SANDBOX_API_KEY,
        "api_secret": SANDBOX_API_SECRET,
    }


def test_ephemeral_refuses_data_dir() -> None:
    result = run("sandbox", "--ephemeral", "--data-dir", "/tmp/x")
    assert result.exit_code == 2
