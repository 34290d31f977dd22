"""`apimw listen` through the ngrok tunnel, with the fake agent (pyngrok's real code path) and
the sandbox as the API: registration lifecycle, stale pruning, --webhook, self-healing."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from apimw_cli.sandbox.server import RunningSandbox
from apimw_cli.settings import ENV_NGROK_PATH, SANDBOX_API_KEY, SANDBOX_API_SECRET
from tests.e2e.listen_process import start_listen
from tests.e2e.listen_process import stop as stop_listen
from tests.fake_ngrok import (
    ERR_108_LINE,
    kill_all,
    make_agent_die,
    make_fake_agent,
    pid_running,
    recorded_argv,
    recorded_pids,
)
from tests.support.cli import run
from tests.support.waiting import wait_for

TOKEN = "2fakeAuthtoken0123456789abcdefghijklmnop"


@pytest.fixture
def agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = make_fake_agent(tmp_path)
    monkeypatch.setenv(ENV_NGROK_PATH, str(path))
    monkeypatch.setenv("NGROK_AUTHTOKEN", TOKEN)
    yield path
    kill_all(path)


def bearer(base_url: str) -> dict[str, str]:
    answer = httpx.post(
        f"{base_url}/auth/token",
        json={"api_key": SANDBOX_API_KEY, "api_secret": SANDBOX_API_SECRET},
    )
    return {"Authorization": f"Bearer {answer.json()['data']['access_token']}"}


def webhooks_of(running_sandbox: RunningSandbox) -> list[dict[str, Any]]:
    data = httpx.get(
        f"{running_sandbox.base_url}/webhooks", headers=bearer(running_sandbox.base_url)
    ).json()["data"]
    listed: list[dict[str, Any]] = data["webhooks"] if isinstance(data, dict) else data
    return listed


def start(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    return start_listen(tmp_path, "--sandbox", "--tunnel", "--format", "ndjson", *args)


def stop(proc: subprocess.Popen[str], sig: signal.Signals = signal.SIGINT) -> tuple[str, str]:
    out, err = stop_listen(proc, sig)
    assert proc.returncode == 0, err
    return out, err


def notes(out: str) -> list[dict[str, Any]]:
    return [r for r in map(json.loads, out.splitlines()) if r["record"] == "note"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_events_arrive_through_the_tunnel_and_everything_is_cleaned_up(
    running_sandbox: RunningSandbox, agent: Path, tmp_path: Path, sig: signal.Signals
) -> None:
    proc, public = start(tmp_path)
    assert public.startswith("http://127.0.0.1:")  # the fake agent's public URL
    [webhook] = webhooks_of(running_sandbox)
    assert webhook["url"] == public
    wait_for(
        lambda: webhooks_of(running_sandbox)[0]["verified"] is True,
        timeout=20.0,
        interval=0.05,
        what="verification",
    )
    httpx.post(
        f"{running_sandbox.base_url}/sandbox/events",
        json={"type": "message.received"},
        headers=bearer(running_sandbox.base_url),
    ).raise_for_status()
    wait_for(
        lambda: webhooks_of(running_sandbox)[0]["last_delivery_status"] == 200,
        timeout=20.0,
        interval=0.05,
        what="delivery",
    )
    out, err = stop(proc, sig)
    assert any(n.get("verified") is True for n in notes(out))
    events = [r for r in map(json.loads, out.splitlines()) if r["record"] == "event"]
    assert [e["type"] for e in events] == ["message.received"]
    assert events[0]["verdict"]["valid"]
    assert webhooks_of(running_sandbox) == []
    assert not any(pid_running(pid) for pid in recorded_pids(agent))
    assert TOKEN not in out + err
    assert all(TOKEN not in arg for argv in recorded_argv(agent) for arg in argv)


def test_stale_temporary_webhooks_are_pruned(
    running_sandbox: RunningSandbox, agent: Path, tmp_path: Path
) -> None:
    dead_pid = 999_999
    description = f"apimw listen (temporary) host={socket.gethostname()} pid={dead_pid} started=x"
    httpx.post(
        f"{running_sandbox.base_url}/webhooks",
        json={
            "url": "http://127.0.0.1:9/gone",
            "events": ["message.sent"],
            "description": description,
        },
        headers=bearer(running_sandbox.base_url),
    ).raise_for_status()
    proc, public = start(tmp_path)
    assert [w["url"] for w in webhooks_of(running_sandbox)] == [public]
    out, _ = stop(proc)
    assert any("removed stale temporary webhook" in n["message"] for n in notes(out))


def test_keep_stale_leaves_them(
    running_sandbox: RunningSandbox, agent: Path, tmp_path: Path
) -> None:
    description = f"apimw listen (temporary) host={socket.gethostname()} pid=999999 started=x"
    httpx.post(
        f"{running_sandbox.base_url}/webhooks",
        json={
            "url": "http://127.0.0.1:9/gone",
            "events": ["message.sent"],
            "description": description,
        },
        headers=bearer(running_sandbox.base_url),
    ).raise_for_status()
    proc, _ = start(tmp_path, "--keep-stale")
    assert len(webhooks_of(running_sandbox)) == 2
    stop(proc)
    assert [w["url"] for w in webhooks_of(running_sandbox)] == ["http://127.0.0.1:9/gone"]


def test_webhook_option_points_an_existing_webhook_and_restores_it(
    running_sandbox: RunningSandbox, agent: Path, tmp_path: Path
) -> None:
    created = httpx.post(
        f"{running_sandbox.base_url}/webhooks",
        json={
            "url": "https://app.example.com/hooks",
            "events": ["message.sent"],
            "secret": "whsec_mine",
        },
        headers=bearer(running_sandbox.base_url),
    ).json()["data"]
    proc, public = start(tmp_path, "--webhook", created["id"], "--secret", "whsec_mine")
    assert webhooks_of(running_sandbox)[0]["url"] == public
    stop(proc)
    [after] = webhooks_of(running_sandbox)
    assert after["id"] == created["id"] and after["url"] == "https://app.example.com/hooks"


def test_a_dead_agent_is_restarted_and_the_webhook_re_pointed(
    running_sandbox: RunningSandbox, agent: Path, tmp_path: Path
) -> None:
    proc, public = start(tmp_path)
    first = recorded_pids(agent)[0]
    make_agent_die(agent)
    wait_for(lambda: not pid_running(first), timeout=20.0, what="the agent to die")
    (agent.parent / "die").unlink(missing_ok=True)  # the fake may consume it itself
    wait_for(lambda: len(recorded_pids(agent)) >= 2, timeout=20.0, what="a restart")
    wait_for(
        lambda: webhooks_of(running_sandbox)[0]["url"] != public,
        timeout=20.0,
        interval=0.05,
        what="the webhook re-pointed",
    )
    out, _ = stop(proc)
    tunnel = [r for r in map(json.loads, out.splitlines()) if r["record"] == "tunnel"]
    assert [t["state"] for t in tunnel][:2] == ["down", "restarted"]
    assert any("re-pointed webhook" in n["message"] for n in notes(out))


def test_a_failing_agent_exits_7_and_leaves_no_process(
    running_sandbox: RunningSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    failing = make_fake_agent(tmp_path, mode="fail", error_line=ERR_108_LINE)
    monkeypatch.setenv(ENV_NGROK_PATH, str(failing))
    monkeypatch.setenv("NGROK_AUTHTOKEN", TOKEN)
    try:
        result = run("--sandbox", "listen", "--tunnel", "--port", "0")
        assert result.exit_code == 7
        assert "ERR_NGROK_108" in result.stderr or "another" in result.stderr
        assert TOKEN not in result.stderr
        assert not any(pid_running(pid) for pid in recorded_pids(failing))
        assert webhooks_of(running_sandbox) == []
        debug = run("--debug", "--sandbox", "listen", "--tunnel", "--port", "0")
        assert "ngrok: " in debug.stderr and TOKEN not in debug.stderr
    finally:
        kill_all(failing)


def test_no_authtoken_exits_7_with_where_to_get_one(
    running_sandbox: RunningSandbox, agent: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NGROK_AUTHTOKEN")
    result = run("--sandbox", "listen", "--tunnel", "--port", "0")
    assert result.exit_code == 7
    assert "ngrok_authtoken" in result.stderr


def test_without_sandbox_it_needs_credentials_for_the_real_api(agent: Path) -> None:
    result = run("listen", "--port", "0")
    assert result.exit_code == 3
    assert "credentials" in result.stderr


def test_another_hosts_temporary_webhook_is_pruned_only_when_its_url_is_dead(
    running_sandbox: RunningSandbox, agent: Path, tmp_path: Path
) -> None:
    live_proc, live_url = start(tmp_path / "live", "--no-record")  # a session that answers
    for url in ("http://127.0.0.1:9/gone", live_url):
        description = "apimw listen (temporary) host=elsewhere pid=1 started=x"
        httpx.post(
            f"{running_sandbox.base_url}/webhooks",
            json={"url": url, "events": ["message.sent"], "description": description},
            headers=bearer(running_sandbox.base_url),
        ).raise_for_status()
    proc, public = start(tmp_path)
    urls = sorted(w["url"] for w in webhooks_of(running_sandbox))
    assert "http://127.0.0.1:9/gone" not in urls
    assert live_url in urls and public in urls
    stop(proc)
    stop(live_proc)


@pytest.mark.slow
def test_the_tunnels_self_checks_are_not_events(
    running_sandbox: RunningSandbox, agent: Path, tmp_path: Path
) -> None:
    """The Watchdog GETs the public URL every SELF_CHECK_EVERY seconds; those checks once showed
    up as 405 "event" records. Nothing observable marks a check that is not reported, so this
    lets the session live through one check interval (not a speed assertion), then looks."""
    from apimw_cli.session.watchdog import Watchdog

    proc, _ = start(tmp_path)
    time.sleep(Watchdog.SELF_CHECK_EVERY + 3.0)
    out, _ = stop(proc)
    records = [json.loads(line) for line in out.splitlines()]
    assert [r for r in records if r["record"] == "event" and r.get("status") == 405] == []
    assert [
        r for r in records if r["record"] == "event" and r.get("path") and r["type"] is None
    ] == []
    assert not any(r["record"] == "tunnel" for r in records)  # the check passed: no restart
