"""A running tunnel: noticing that its agent died, restarting it, and never orphaning it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.fake_ngrok import (
    kill_all,
    make_agent_die,
    make_fake_agent,
    pid_alive,
    pid_running,
    recorded_pids,
)
from tests.support.waiting import wait_for
from tests.tunnel.conftest import MakeTunnel, agent_of
from tests.tunnel.support import request

ROOT = Path(__file__).resolve().parents[2]


def test_alive_while_the_agent_runs(make_tunnel: MakeTunnel, local_port: int) -> None:
    tunnel = make_tunnel()

    assert not tunnel.alive()
    tunnel.open(local_port)
    assert tunnel.alive()


def test_alive_turns_false_when_the_agent_dies(make_tunnel: MakeTunnel, local_port: int) -> None:
    tunnel = make_tunnel()
    tunnel.open(local_port)

    make_agent_die(agent_of(tunnel))

    wait_for(lambda: not tunnel.alive(), what="alive() to turn False")


def test_alive_turns_false_when_the_agent_exits_by_itself(
    make_tunnel: MakeTunnel, local_port: int
) -> None:
    tunnel = make_tunnel(die_after=0.3)
    tunnel.open(local_port)

    wait_for(lambda: not tunnel.alive(), what="alive() to turn False")


def test_restart_after_the_agent_died_gives_a_working_url(
    make_tunnel: MakeTunnel, local_port: int
) -> None:
    tunnel = make_tunnel()
    first = tunnel.open(local_port)
    make_agent_die(agent_of(tunnel))
    wait_for(lambda: not tunnel.alive(), what="the agent to die")

    url = tunnel.restart()

    assert url != first and tunnel.public_url == url and tunnel.alive()
    status, _, reply = request(f"{url}/again")
    assert (status, reply) == (200, b"GET /again\n")


def test_restart_of_a_live_tunnel_replaces_its_agent(
    make_tunnel: MakeTunnel, local_port: int
) -> None:
    tunnel = make_tunnel()
    tunnel.open(local_port)
    old_pid = tunnel.agent_pid

    tunnel.restart()

    assert old_pid is not None and not pid_alive(old_pid)
    assert tunnel.agent_pid != old_pid and tunnel.alive()


def test_closing_after_the_agent_died_leaves_no_process(
    make_tunnel: MakeTunnel, local_port: int
) -> None:
    tunnel = make_tunnel()
    tunnel.open(local_port)
    make_agent_die(agent_of(tunnel))
    wait_for(lambda: not tunnel.alive(), what="the agent to die")

    tunnel.close()

    assert [pid for pid in recorded_pids(agent_of(tunnel)) if pid_alive(pid)] == []


SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from apimw_cli.tunnel import Tunnel, TunnelSettings

    settings = TunnelSettings(
        authtoken="2fAkeToken0123456789abcdefghij",
        ngrok_path=sys.argv[1],
        region=None,
        config_dir=Path(sys.argv[2]),
    )
    tunnel = Tunnel(settings)
    print(tunnel.open(9), flush=True)
    if sys.argv[3] == "hang":
        sys.stdin.read()
    """
)


def run_owner(agent: Path, tmp_path: Path, then: str) -> subprocess.Popen[str]:
    """A separate Python process that opens a tunnel through `agent`, then exits or hangs."""
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(agent), str(tmp_path / "ngrok-config"), then],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def test_interpreter_exit_without_close_stops_the_agent(tmp_path: Path) -> None:
    agent = make_fake_agent(tmp_path)
    with run_owner(agent, tmp_path, "exit") as owner:
        out, _ = owner.communicate(timeout=20)

    assert owner.returncode == 0 and out.startswith("http://")
    pids = recorded_pids(agent)
    assert pids
    wait_for(lambda: not any(pid_alive(pid) for pid in pids), what="the agent to stop")


def test_fake_agent_exits_when_its_owner_is_killed(tmp_path: Path) -> None:
    agent = make_fake_agent(tmp_path)
    with run_owner(agent, tmp_path, "hang") as owner:
        try:
            assert owner.stdout is not None
            assert owner.stdout.readline().startswith("http://")
            pids = recorded_pids(agent)

            os.kill(owner.pid, signal.SIGKILL)
            owner.wait(10)

            wait_for(lambda: not any(pid_running(pid) for pid in pids), what="the orphan to exit")
        finally:
            if owner.poll() is None:
                owner.kill()
            kill_all(agent)
