"""The server stack: uvloop + httptools when they import, asyncio + h11 otherwise (each part on
its own), APIMW_SERVER_STACK=pure to force the pure-Python one; the receiver serves, verifies,
pipelines and records alike on every stack, and `listen` and `doctor` work on the fallback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from apimw_cli.errors import ConfigError, ExitCode
from apimw_cli.receiver.events import ReceiverConfig
from apimw_cli.server_stack import ENV_SERVER_STACK, ServerStack, detect, pure
from apimw_cli.session import resources
from tests.receiver.conftest import StartReceiver
from tests.receiver.support import (
    SECRET,
    event_body,
    every_server_stack,  # noqa: F401  (a fixture: the receiver tests here run on both stacks)
    records_of,
    signed_headers,
)
from tests.receiver.test_slow_clients import head, is_closed
from tests.support.waiting import wait_for

ROOT = Path(__file__).parents[2]

# --------------------------------------------------------------------------- detect()


def test_auto_picks_what_imports_and_says_so() -> None:
    stack = detect({})
    assert stack.loop in ("uvloop", "asyncio") and stack.http in ("httptools", "h11")
    assert detect({ENV_SERVER_STACK: "auto"}) == stack
    assert detect({ENV_SERVER_STACK: ""}) == stack  # set but empty: the default
    if (stack.loop, stack.http) == ("uvloop", "httptools"):
        assert stack.fallbacks == () and stack.describe().startswith("uvloop ")


@pytest.mark.parametrize("value", ["pure", "PURE", " pure "])
def test_pure_forces_asyncio_and_h11(value: str) -> None:
    stack = detect({ENV_SERVER_STACK: value})
    assert (stack.loop, stack.http) == ("asyncio", "h11")
    assert stack.is_pure
    assert stack.describe() == "asyncio + h11 (pure Python)"
    assert stack.fallbacks == (f"{ENV_SERVER_STACK}=pure",)


@pytest.mark.parametrize("value", ["fast", "uvloop", "1", "pure\x1b[2J"])
def test_any_other_value_is_a_config_error_with_a_hint(value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        detect({ENV_SERVER_STACK: value})
    error = raised.value
    assert error.exit_code == ExitCode.CONFIG
    assert ENV_SERVER_STACK in error.message and repr(value) in error.message
    assert "\n" not in error.message
    assert error.hint is not None and f"{ENV_SERVER_STACK}=pure" in error.hint


def test_describe_names_each_part_with_its_version() -> None:
    both = ServerStack("uvloop", "httptools", "0.23.0", "0.9.0")
    assert both.describe() == "uvloop 0.23.0 + httptools 0.9.0"
    assert ServerStack("asyncio", "httptools", None, "0.9.0").describe() == (
        "asyncio + httptools 0.9.0"
    )
    assert ServerStack("uvloop", "h11", "0.23.0").describe() == "uvloop 0.23.0 + h11"
    assert pure().describe() == "asyncio + h11 (pure Python)"


@pytest.mark.parametrize("missing", [("uvloop",), ("httptools",), ("uvloop", "httptools")])
def test_a_missing_part_falls_back_on_its_own(
    monkeypatch: pytest.MonkeyPatch, missing: tuple[str, ...]
) -> None:
    for name in missing:
        monkeypatch.setitem(sys.modules, name, None)  # what `import name` then refuses
    stack = detect({})
    assert (stack.loop == "asyncio") == ("uvloop" in missing)
    assert (stack.http == "h11") == ("httptools" in missing)
    assert set(stack.fallbacks) >= {f"{name} is not installed" for name in missing}
    assert stack.broken == ()


BROKEN = """
import json, sys
from apimw_cli.server_stack import detect
stack = detect({})
print(json.dumps([stack.loop, stack.http, list(stack.fallbacks), list(stack.broken)]))
"""


def test_an_installed_but_broken_extension_falls_back_instead_of_crashing(
    tmp_path: Path,
) -> None:
    """A uvloop that is found but fails to import (built for another Python, say)."""
    fake = tmp_path / "uvloop"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise ImportError('undefined symbol: PyFoo')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]))
    done = subprocess.run(
        [sys.executable, "-c", BROKEN], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    loop, _http, fallbacks, broken = json.loads(done.stdout)
    assert loop == "asyncio"
    assert broken == ["uvloop"]
    assert any("did not import" in why and "undefined symbol" in why for why in fallbacks)


def test_importing_the_module_imports_neither_extension() -> None:
    code = (
        "import sys; import apimw_cli.server_stack; "
        "print(sorted(m for m in ('uvloop', 'httptools', 'uvicorn') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == "[]", done.stderr


# --------------------------------------------------------------------------- on each stack


def read_responses(sock: socket.socket, count: int) -> list[tuple[int, bytes]]:
    """`count` responses in a row (they may share a segment): each one's status and head."""
    data, answers = b"", list[tuple[int, bytes]]()
    while len(answers) < count:
        response_head, found, rest = data.partition(b"\r\n\r\n")
        length = next(
            (
                int(line.partition(b":")[2])
                for line in response_head.split(b"\r\n")[1:]
                if line.partition(b":")[0].strip().lower() == b"content-length"
            ),
            0,
        )
        if found and len(rest) >= length:
            answers.append((int(response_head.split(b" ")[1]), response_head))
            data = rest[length:]
            continue
        chunk = sock.recv(65536)
        assert chunk, f"closed after {len(answers)} responses: {data!r}"
        data += chunk
    assert data == b"", f"more than {count} responses: {data!r}"
    return answers


def test_the_receiver_runs_on_the_stack_it_was_given(
    start_receiver: StartReceiver, server_stack: ServerStack
) -> None:
    live = start_receiver()
    assert live.running.server_stack == server_stack
    assert live.post(event_body()).status_code == 200
    [received] = live.sink.wait_received(1)
    assert (received.kind, received.verdict and received.verdict.code) == ("event", "valid")


def test_pipelined_requests_are_answered_in_order_and_all_recorded(
    start_receiver: StartReceiver,
) -> None:
    live = start_receiver()
    bodies = [event_body(n=n) for n in range(5)]
    bodies[2] = b'{"type":"message.sent"}'  # a wrong signature among them: 401, in its place
    wrong = {"X-APIMW-Signature": "sha256=" + "0" * 64}
    requests = [
        (head(body, None, **wrong) if n == 2 else head(body)) + body
        for n, body in enumerate(bodies)
    ]
    with socket.create_connection(("127.0.0.1", live.running.port), timeout=5) as sock:
        sock.sendall(b"".join(requests))  # all at once, before any answer
        statuses = [status for status, _ in read_responses(sock, len(requests))]
    assert statuses == [200, 200, 401, 200, 200]
    lines = records_of(live.record, "request")
    assert [line["body"].encode() for line in lines] == bodies
    assert [line["status"] for line in lines] == statuses


def test_a_pipelined_connection_is_still_closed_when_idle(start_receiver: StartReceiver) -> None:
    """The guard's idle timer after the last of several pipelined answers."""
    # Not much shorter: a starved loop (a loaded machine) must still read the requests first.
    live = start_receiver(read_timeout=2.0)
    bodies = [event_body(n=n) for n in range(3)]
    with socket.create_connection(("127.0.0.1", live.running.port), timeout=5) as sock:
        sock.sendall(b"".join(head(body) + body for body in bodies))
        assert [status for status, _ in read_responses(sock, 3)] == [200, 200, 200]
        wait_for(lambda: is_closed(sock), timeout=10, what="the idle connection closed")


def test_answers_and_records_are_the_same_on_every_stack(
    start_receiver: StartReceiver,
) -> None:
    """What a delivery gets back, byte for byte apart from the Date header."""
    live = start_receiver()
    body = event_body()
    with socket.create_connection(("127.0.0.1", live.running.port), timeout=5) as sock:
        sock.sendall(head(body) + body)
        [(status, response_head)] = read_responses(sock, 1)
    lines = [line for line in response_head.split(b"\r\n") if not line.startswith(b"date:")]
    assert status == 200
    assert lines == [b"HTTP/1.1 200 OK", b"content-length: 0"]
    [line] = records_of(live.record, "request")
    assert (line["kind"], line["status"], line["verdict"]["code"]) == ("event", 200, "valid")


# --------------------------------------------------------------------------- listen's debug note


def test_listen_debug_notes_the_stack_the_receiver_runs_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENV_SERVER_STACK, "pure")
    notes: list[str] = []
    config = ReceiverConfig(port=0, secrets=(SECRET,))
    with resources.receiver(config, lambda _record: None, notes.append) as running:
        assert running.server_stack.is_pure
    assert notes == [f"the receiver runs on asyncio + h11 (pure Python); {ENV_SERVER_STACK}=pure"]


def test_a_bad_stack_setting_stops_the_receiver_before_it_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENV_SERVER_STACK, "turbo")
    with (
        pytest.raises(ConfigError, match=ENV_SERVER_STACK),
        resources.receiver(ReceiverConfig(port=0), lambda _record: None),
    ):
        pass  # pragma: no cover


# ------------------------------------------------------------------ the fallback, end to end

# apimw's own entry point in a process where uvloop and httptools cannot be imported, as on a
# platform without their wheels.
WITHOUT_EXTENSIONS = """
import sys
sys.modules["uvloop"] = None
sys.modules["httptools"] = None
from apimw_cli.main import main
sys.argv = ["apimw", *sys.argv[1:]]
main()
"""


def _apimw_without_extensions(
    *args: str, env: dict[str, str], **popen: object
) -> subprocess.Popen[str]:
    command = [sys.executable, "-c", WITHOUT_EXTENSIONS, *args]
    return subprocess.Popen(command, cwd=ROOT, env=env, text=True, **popen)  # type: ignore[call-overload, no-any-return]


@pytest.mark.parametrize("how", ["missing", "forced"])
def test_listen_on_the_pure_python_stack_receives_verifies_and_records(
    tmp_path: Path, how: str
) -> None:
    ready, record = tmp_path / "ready", tmp_path / "session.jsonl"
    env = dict(os.environ)  # isolated by tests/conftest.py: no APIMW_* variables
    listen = [
        "--debug", "listen", "--no-tunnel", "--port", "0", "--secret", SECRET, "--format", "ndjson",
        "--ready-file", str(ready), "--record", str(record), "--timeout", "60s",
        "--expect", "message.sent",
    ]  # fmt: skip
    if how == "forced":
        env[ENV_SERVER_STACK] = "pure"
        command = [sys.executable, "-m", "apimw_cli", *listen]
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
    else:
        process = _apimw_without_extensions(
            *listen, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
    with process:
        try:
            url = wait_for(
                lambda: ready.read_text().strip() if ready.exists() else None,
                timeout=30,
                what="listen's ready file",
            )
            body = event_body()
            assert _post(url, body, signed_headers(body)) == 200  # --expect met: listen ends
            out, err = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 0, err
    assert "the receiver runs on asyncio + h11 (pure Python)" in err  # --debug says so
    events = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert any(event.get("type") == "message.sent" for event in events), out
    lines = records_of(record, "request")
    assert [(line["kind"], line["status"]) for line in lines] == [("event", 200)]
    assert lines[0]["verdict"]["code"] == "valid" and lines[0]["body"].encode() == body


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    import httpx

    return httpx.post(url, content=body, headers=headers, timeout=10).status_code


def test_doctor_reports_the_pure_python_stack_and_why() -> None:
    env = dict(os.environ)  # isolated by tests/conftest.py: no APIMW_* variables
    doctor = _apimw_without_extensions(
        "-o", "json", "doctor", "--port", "0", env=env, stdout=subprocess.PIPE
    )
    with doctor:
        out, _ = doctor.communicate(timeout=60)
    [row] = [row for row in json.loads(out) if row["check"] == "server stack"]
    assert row["status"] == "ok"
    assert row["detail"] == (
        "asyncio + h11 (pure Python): uvloop is not installed; httptools is not installed"
    )


def test_doctor_fails_the_row_for_a_bad_setting() -> None:
    env = dict(os.environ, **{ENV_SERVER_STACK: "x"})
    done = subprocess.run(
        [sys.executable, "-m", "apimw_cli", "-o", "json", "doctor", "--port", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    [row] = [row for row in json.loads(done.stdout) if row["check"] == "server stack"]
    assert row["status"] == "fail" and ENV_SERVER_STACK in row["detail"]
    assert done.returncode == 1  # doctor's exit for any failed check
