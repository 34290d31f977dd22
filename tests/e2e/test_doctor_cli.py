"""`apimw doctor`: one row per check (ok/warn/fail), exit 1 on any fail.

End to end against the sandbox fixture (port 0), with the fake ngrok agent as `ngrok_path`
and a small HTTP app on 127.0.0.1:0 as the forward target; the API-answer cases that the
sandbox cannot produce (a skewed clock, a missing permission) use the fake API transport.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.utils import formatdate
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import Result

from apimw_cli.commands import doctor as doctor_module
from apimw_cli.output import mask
from apimw_cli.sandbox.server import RunningSandbox
from apimw_cli.settings import (
    ENV_API_BASE,
    ENV_API_KEY,
    ENV_API_SECRET,
    ENV_NGROK_PATH,
    SANDBOX_API_SECRET,
)
from tests import fakeapi
from tests.fake_ngrok import make_fake_agent
from tests.support.capture import Captured, CaptureServer, Reply
from tests.support.cli import run

TOKEN = "2fakeAuthtoken0123456789abcdefghijklmnop"
UNREACHABLE = "http://127.0.0.1:9/webhooks"  # the discard port: connections are refused


@pytest.fixture(autouse=True)
def no_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests behave the same inside and outside a container."""
    monkeypatch.setattr(doctor_module, "CONTAINER_MARKERS", ())
    monkeypatch.setattr(doctor_module, "HOSTS_FILE", tmp_path / "no-hosts-file")


@pytest.fixture
def agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake ngrok agent as ngrok_path, and an authtoken: the ngrok rows are ok."""
    path = make_fake_agent(tmp_path)
    monkeypatch.setenv(ENV_NGROK_PATH, str(path))
    monkeypatch.setenv("NGROK_AUTHTOKEN", TOKEN)
    return path


def webhooks_route(request: Captured) -> Reply:
    """Answers 204 on /webhooks, 404 anywhere else."""
    return Reply(204 if request.path == "/webhooks" else 404, b"", content_type=None)


@contextmanager
def app_on(host: str = "127.0.0.1") -> Iterator[int]:
    """A live HTTP app on `host`, on a free port (yielded)."""
    with CaptureServer(webhooks_route, host=host) as server:
        yield server.port


@pytest.fixture
def live_target() -> Iterator[str]:
    with app_on() as port:
        yield f"http://127.0.0.1:{port}/webhooks"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def doctor(*args: str, sandbox: bool = True, api: fakeapi.FakeApi | None = None) -> Result:
    """`apimw [--sandbox] -o json doctor --port <free> ARGS`."""
    root = ["--sandbox"] if sandbox else []
    return run(*root, "-o", "json", "doctor", "--port", str(free_port()), *args, api=api)


def rows(result: Result) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(result.stdout)
    return data


def row(result: Result, check: str) -> dict[str, Any]:
    (found,) = [r for r in rows(result) if r["check"] == check]
    return found


def identity(permissions: list[str]) -> dict[str, Any]:
    return {
        "user": {"id": "usr_1", "email": "dev@example.com", "name": "Dev Eloper"},
        "tenant": {"id": "ten_1", "name": "Acme", "plan": "free", "status": "active"},
        "permissions": permissions,
    }


@pytest.fixture
def fake_api(monkeypatch: pytest.MonkeyPatch) -> fakeapi.FakeApi:
    """The fake API at the transport, with valid credentials in the environment."""
    monkeypatch.setenv(ENV_API_BASE, fakeapi.BASE)
    monkeypatch.setenv(ENV_API_KEY, fakeapi.API_KEY)
    monkeypatch.setenv(ENV_API_SECRET, fakeapi.API_SECRET)
    return fakeapi.FakeApi()


# --- the whole report ------------------------------------------------------------------------


def test_all_checks_pass_with_sandbox_agent_authtoken_and_live_target(
    running_sandbox: RunningSandbox, agent: Path, live_target: str
) -> None:
    result = doctor("--forward-to", live_target)

    assert result.exit_code == 0, result.stderr
    assert {r["check"]: r["status"] for r in rows(result)} == {
        "credentials": "ok",
        "api": "ok",
        "permission": "ok",
        "clock": "ok",
        "ngrok agent": "ok",
        "ngrok authtoken": "ok",
        "server stack": "ok",
        "port": "ok",
        "forward-to": "ok",
    }


def test_json_output_is_a_list_of_check_status_detail_hint(
    running_sandbox: RunningSandbox, agent: Path
) -> None:
    data = rows(doctor())

    assert isinstance(data, list) and data
    assert all(set(r) == {"check", "status", "detail", "hint"} for r in data)
    assert {r["status"] for r in data} <= {"ok", "warn", "fail"}


def test_table_output_has_a_row_per_check(running_sandbox: RunningSandbox, agent: Path) -> None:
    result = run("--sandbox", "doctor", "--port", str(free_port()))

    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["CHECK", "STATUS", "DETAIL", "HINT"]
    assert [line.split()[0] for line in lines[1:]] == [
        "credentials",
        "api",
        "permission",
        "clock",
        "ngrok",
        "ngrok",
        "server",
        "port",
    ]
    assert "all 8 checks passed" in result.stderr


def test_no_secret_in_output(running_sandbox: RunningSandbox, agent: Path) -> None:
    outputs = [run("--sandbox", *fmt, "doctor", "--port", "0") for fmt in ([], ["-o", "json"])]

    for result in outputs:
        text = result.stdout + result.stderr
        assert TOKEN not in text
        assert SANDBOX_API_SECRET not in text
        assert mask(TOKEN) in text


# --- credentials and the API -----------------------------------------------------------------


def test_no_credentials_fails_the_credentials_row_and_exits_1(
    running_sandbox: RunningSandbox, agent: Path
) -> None:
    result = run("--api-base", running_sandbox.base_url, "-o", "json", "doctor", "--port", "0")

    assert result.exit_code == 1
    credentials = row(result, "credentials")
    assert credentials["status"] == "fail"
    assert "apimw login" in credentials["hint"]
    assert "checks failed: credentials" in result.stderr


def test_refused_credentials_fail_the_credentials_row(
    fake_api: fakeapi.FakeApi, monkeypatch: pytest.MonkeyPatch, agent: Path
) -> None:
    monkeypatch.setenv(ENV_API_SECRET, "sk_live_wrongsecret0000000000000000")

    result = doctor(sandbox=False, api=fake_api)

    assert result.exit_code == 1
    credentials = row(result, "credentials")
    assert credentials["status"] == "fail"
    assert "refused by the API" in credentials["detail"]
    assert row(result, "api")["status"] == "ok"


def test_missing_webhooks_permission_only_warns(fake_api: fakeapi.FakeApi, agent: Path) -> None:
    fake_api.permissions = ["whatsapp:send", "whatsapp:templates"]

    result = doctor(sandbox=False, api=fake_api)

    assert result.exit_code == 0, result.stderr
    permission = row(result, "permission")
    assert permission["status"] == "warn"
    assert "webhooks:manage" in permission["detail"]


def test_clock_five_minutes_off_fails(fake_api: fakeapi.FakeApi, agent: Path) -> None:
    ten_minutes_ago = formatdate(time.time() - 600, usegmt=True)
    fake_api.script(
        "GET auth/me",
        httpx.Response(
            200,
            json={"success": True, "data": identity(["webhooks:manage"])},
            headers={"Date": ten_minutes_ago},
        ),
    )

    result = doctor(sandbox=False, api=fake_api)

    assert result.exit_code == 1
    clock = row(result, "clock")
    assert clock["status"] == "fail"
    assert "ahead of the API's" in clock["detail"]


def test_no_date_header_skips_the_clock_check(fake_api: fakeapi.FakeApi, agent: Path) -> None:
    result = doctor(sandbox=False, api=fake_api)  # the fake API sends no Date header

    assert result.exit_code == 0, result.stderr
    assert "clock" not in {r["check"] for r in rows(result)}


def test_unreachable_api_fails(agent: Path) -> None:
    result = run("--api-base", "http://127.0.0.1:9/v1", "-o", "json", "doctor", "--port", "0")

    assert result.exit_code == 1
    assert row(result, "api")["status"] == "fail"


# --- ngrok -----------------------------------------------------------------------------------


def test_missing_ngrok_path_fails_and_says_how_to_fix_it(
    running_sandbox: RunningSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_NGROK_PATH, str(tmp_path / "nowhere" / "ngrok"))
    monkeypatch.setenv("NGROK_AUTHTOKEN", TOKEN)

    result = run("--api-base", running_sandbox.base_url, "-o", "json", "doctor", "--port", "0")

    assert result.exit_code == 1
    agent_row = row(result, "ngrok agent")
    assert agent_row["status"] == "fail"
    assert "nowhere" in agent_row["detail"]
    assert "ngrok_path" in agent_row["hint"]
    assert "https://ngrok.com/download" in agent_row["hint"]


def test_ngrok_problems_only_warn_with_sandbox(
    running_sandbox: RunningSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_NGROK_PATH, str(tmp_path / "nowhere" / "ngrok"))

    result = doctor()  # and no NGROK_AUTHTOKEN

    assert result.exit_code == 0, result.stderr
    assert row(result, "ngrok agent")["status"] == "warn"
    assert row(result, "ngrok authtoken")["status"] == "warn"


def pyngrok_launcher_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PATH holds only a virtualenv's bin/ngrok as pyngrok installs it; no ngrok_path."""
    bindir = tmp_path / "venv" / "bin"
    bindir.mkdir(parents=True)
    launcher = bindir / "ngrok"
    launcher.write_text(
        "#!/venv/bin/python3\nimport sys\nfrom pyngrok.ngrok import main\nsys.exit(main())\n",
        encoding="utf-8",
    )
    launcher.chmod(0o755)
    monkeypatch.delenv(ENV_NGROK_PATH, raising=False)
    monkeypatch.setenv("PATH", str(bindir))
    monkeypatch.setenv("NGROK_AUTHTOKEN", TOKEN)
    return launcher


def test_pyngrok_launcher_is_not_reported_as_an_agent(
    running_sandbox: RunningSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    launcher = pyngrok_launcher_on_path(tmp_path, monkeypatch)

    result = doctor()

    agent_row = row(result, "ngrok agent")
    assert agent_row["status"] == "warn"
    assert (
        f"{launcher} is pyngrok's launcher: downloads the ngrok agent on first use"
        in (agent_row["detail"])
    )
    assert "needs internet" in agent_row["detail"]
    assert "offline, that fails" in agent_row["detail"]
    assert "(on PATH)" not in agent_row["detail"]
    assert "ngrok_path" in agent_row["hint"]


def test_pyngrok_launcher_with_the_agent_downloaded_is_ok(
    running_sandbox: RunningSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from apimw_cli.tunnel import managed_ngrok_path

    pyngrok_launcher_on_path(tmp_path, monkeypatch)
    managed = managed_ngrok_path()
    managed.parent.mkdir(parents=True)
    managed.write_bytes(make_fake_agent(tmp_path).read_bytes())

    agent_row = row(doctor(), "ngrok agent")

    assert agent_row["status"] == "ok"
    assert str(managed) in agent_row["detail"]
    assert "pyngrok's launcher" in agent_row["detail"]


# --- the port and the forward targets --------------------------------------------------------


def test_port_in_use_fails_with_a_hint_to_pick_another(
    running_sandbox: RunningSandbox, agent: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("--sandbox", "-o", "json", "doctor", "--port", str(port))

    assert result.exit_code == 1
    port_row = row(result, "port")
    assert port_row["status"] == "fail"
    assert "in use" in port_row["detail"]
    assert "--port" in port_row["hint"]


def test_forward_target_down_fails(running_sandbox: RunningSandbox, agent: Path) -> None:
    result = doctor("--forward-to", UNREACHABLE)

    assert result.exit_code == 1
    target = row(result, "forward-to")
    assert target["status"] == "fail"
    assert "connection refused" in target["detail"]
    assert "Docker" not in target["hint"]


def test_forward_target_answering_an_error_status_counts_as_reachable(
    running_sandbox: RunningSandbox, agent: Path
) -> None:
    with app_on() as port:
        result = doctor("--forward-to", f"http://127.0.0.1:{port}/no/such/path")

    target = row(result, "forward-to")
    assert target["status"] == "ok"
    assert "HTTP 404" in target["detail"]


def test_localhost_answering_only_on_127_0_0_1_suggests_that_address(
    running_sandbox: RunningSandbox, agent: Path
) -> None:
    with app_on("127.0.0.1") as port:
        result = doctor("--forward-to", f"http://localhost:{port}/webhooks")

    target = row(result, "forward-to")
    assert target["status"] in ("warn", "fail")
    assert "127.0.0.1 only" in target["detail"]
    assert f"--forward-to http://127.0.0.1:{port}/webhooks" in target["hint"]


def test_target_down_inside_a_container_mentions_docker_networking(
    running_sandbox: RunningSandbox, agent: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dockerenv = tmp_path / ".dockerenv"
    dockerenv.touch()
    monkeypatch.setattr(doctor_module, "CONTAINER_MARKERS", (dockerenv,))

    result = doctor("--forward-to", UNREACHABLE)

    hint = row(result, "forward-to")["hint"]
    assert "inside a container" in hint
    assert "host.docker.internal" in hint
