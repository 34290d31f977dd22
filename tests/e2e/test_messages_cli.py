"""`apimw messages` against the sandbox."""

from __future__ import annotations

import json

from apimw_cli.sandbox.server import RunningSandbox
from tests.support.cli import run
from tests.support.waiting import wait_for


def wait_for_status(message_id: str, wanted: str, timeout: float = 10.0) -> dict[str, object]:
    """The message's status record once it says `wanted`."""

    def reached() -> dict[str, object] | None:
        result = run("--sandbox", "-o", "json", "messages", "status", message_id)
        data: dict[str, object] = json.loads(result.stdout)
        return data if data["status"] == wanted else None

    return wait_for(reached, timeout, f"message {message_id} {wanted}", interval=0.05)


def test_send_prints_the_message_id(running_sandbox: RunningSandbox) -> None:
    result = run("--sandbox", "messages", "send", "--to", "+14155550123", "--text", "hello")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip().startswith("wamid.")
    assert "sent wamid." in result.stderr


def customer_writes(number: str) -> None:
    """A customer's message (a message.received event from them): their 24-hour window opens."""
    wrote = run("--sandbox", "trigger", "message.received", "--set", f"data.from={number}")
    assert wrote.exit_code == 0, wrote.stderr


def test_send_json_then_status_reaches_read(running_sandbox: RunningSandbox) -> None:
    customer_writes("+14155550123")
    result = run(
        "--sandbox", "-o", "json", "messages", "send", "--to", "+14155550123", "--text", "hi"
    )
    sent = json.loads(result.stdout)
    assert sent["status"] == "sent"
    data = wait_for_status(str(sent["message_id"]), "read")
    assert data["status"] == "read"
    stamps = data["timestamps"]
    assert isinstance(stamps, dict) and all(stamps[k] for k in ("sent", "delivered", "read"))


def test_a_number_ending_in_0000_fails(running_sandbox: RunningSandbox) -> None:
    result = run(
        "--sandbox", "-o", "json", "messages", "send", "--to", "+14155550000", "--text", "x"
    )
    data = wait_for_status(json.loads(result.stdout)["message_id"], "failed")
    assert data["status"] == "failed"
    human = run("--sandbox", "messages", "status", str(data["message_id"]))
    assert "131026" in human.stdout


def test_text_can_come_from_stdin(running_sandbox: RunningSandbox) -> None:
    result = run(
        "--sandbox", "messages", "send", "--to", "+14155550123", "--text", "-", input="piped\n"
    )
    assert result.exit_code == 0, result.stderr


def test_invalid_number_is_refused_before_any_request() -> None:
    result = run("messages", "send", "--to", "0123", "--text", "x")
    assert result.exit_code == 2
    assert "E.164" in result.stderr


def test_too_long_text_is_refused() -> None:
    result = run("messages", "send", "--to", "+14155550123", "--text", "x" * 4097)
    assert result.exit_code == 2
    assert "4096" in result.stderr


def test_unknown_message_is_a_404(running_sandbox: RunningSandbox) -> None:
    result = run("--sandbox", "messages", "status", "wamid.nope")
    assert result.exit_code == 4
    assert "NOT_FOUND" in result.stderr


def test_sandbox_not_running_says_how_to_start_it(monkeypatch: object) -> None:
    waits: list[float] = []  # the client's retry waits, recorded instead of slept
    result = run(
        "--sandbox",
        "--api-base",
        "http://127.0.0.1:9/v1",
        "messages",
        "status",
        "wamid.x",
        sleep=waits.append,
    )
    assert result.exit_code == 6
    assert len(waits) == 3  # a refused connection is retried before giving up
    assert "apimw sandbox" in result.stderr
