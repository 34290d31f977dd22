"""A fake ngrok agent that pyngrok drives through its real code path (see agent.py).

`make_fake_agent(tmp_path, mode=...)` writes a `#!/bin/sh` wrapper that execs this interpreter on
agent.py, in a directory of its own (pyngrok keys agents by path, so each call gets a new one),
and returns the wrapper's path: use it as `ngrok_path`. The helpers below read what the fake
recorded in that directory.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shlex
import signal
import sys
from pathlib import Path
from typing import Any, Literal

# The product's liveness test (a zombie counts as alive: nobody reaped it), re-exported.
from apimw_cli.session.records import pid_alive as pid_alive

AGENT = Path(__file__).resolve().parent / "agent.py"

Mode = Literal["ok", "silent", "fail", "exit"]

_counter = itertools.count(1)


def error_line(err: str) -> str:
    """An agent error line as the real agent prints it (`err` is logfmt-escaped text)."""
    return f'lvl=eror msg="session closing" obj=tunnels.session err="{err}"'


ERR_108_LINE = error_line(
    "authentication failed: Your account is limited to 1 simultaneous ngrok agent sessions.\\n"
    "You can run multiple simultaneous tunnels from a single agent session by defining the "
    "tunnels in your agent configuration file and starting them with the command "
    "`ngrok start --all`.\\nYou can view your current agent sessions in the dashboard:\\n"
    "https://dashboard.ngrok.com/agents\\r\\n\\r\\nERR_NGROK_108\\r\\n"
)
ERR_4018_LINE = error_line(
    "authentication failed: Usage of ngrok requires a verified account and authtoken.\\n\\n"
    "Sign up for an account: https://dashboard.ngrok.com/signup\\r\\n\\r\\nERR_NGROK_4018\\r\\n"
)
# ngrok echoes the rejected token: `{authtoken}` is replaced by the one the fake received.
ERR_105_LINE = error_line(
    "authentication failed: The authtoken you specified does not look like a proper ngrok "
    "authtoken.\\nYour authtoken: {authtoken}\\r\\n\\r\\nERR_NGROK_105\\r\\n"
)


def make_fake_agent(tmp_path: Path, mode: Mode = "ok", **options: Any) -> Path:
    """Write a fake agent wrapper under `tmp_path` and return its path.

    Options: `error_line` (mode "fail"; `{authtoken}` is substituted), `die_after` (seconds
    after start), `valid_authtokens` (others get ERR_NGROK_107), `endpoint_error` (POST
    /api/endpoints answers 502 with this error text).
    """
    directory = tmp_path / f"fake-ngrok-{next(_counter)}"
    directory.mkdir(parents=True)
    (directory / "mode.json").write_text(json.dumps({"mode": mode, **options}), encoding="utf-8")
    wrapper = directory / "ngrok"
    wrapper.write_text(
        "#!/bin/sh\n"
        f"FAKE_NGROK_DIR={shlex.quote(str(directory))}\n"
        "export FAKE_NGROK_DIR\n"
        f'exec {shlex.quote(sys.executable)} {shlex.quote(str(AGENT))} "$@"\n',
        encoding="utf-8",
    )
    wrapper.chmod(0o755)
    return wrapper


def _lines(agent: Path, name: str) -> list[Any]:
    try:
        text = (agent.parent / name).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def recorded_argv(agent: Path) -> list[list[str]]:
    """The argv of every start of this fake agent, in order."""
    return _lines(agent, "argv.jsonl")


def recorded_pids(agent: Path) -> list[int]:
    """The process id of every start of this fake agent, in order."""
    return [int(pid) for pid in _lines(agent, "pids")]


def recorded_requests(agent: Path) -> list[dict[str, Any]]:
    """Every request the fake's API received: method, path and (for POST) the JSON body."""
    return _lines(agent, "requests.jsonl")


def make_agent_die(agent: Path) -> None:
    """Make every running instance of this fake agent exit (it polls for a `die` file)."""
    (agent.parent / "die").touch()


def pid_running(pid: int) -> bool:
    """True if `pid` runs; a zombie has exited (for orphans, which init reaps when it likes)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except ProcessLookupError:
        return False  # reaped between opening its stat file and reading it
    except FileNotFoundError:
        return False if Path("/proc/self/stat").exists() else pid_alive(pid)
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def kill_all(agent: Path) -> None:
    """Teardown safety net: SIGKILL every recorded instance of this fake agent that still runs."""
    for pid in recorded_pids(agent):
        if pid_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
