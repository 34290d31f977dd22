"""`apimw messages send --template` and `apimw messages templates` against the sandbox, the
24-hour window as the CLI shows it, and `apimw sandbox --no-window`."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from apimw_cli.sandbox.server import RunningSandbox
from tests.support.cli import run
from tests.support.sandbox import MakeSandbox
from tests.support.waiting import wait_for

TO = "+14155550123"


def status_of(message_id: str, wanted: str) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        result = run("--sandbox", "-o", "json", "messages", "status", message_id)
        data: dict[str, Any] = json.loads(result.stdout)
        return data if data["status"] == wanted else None

    return wait_for(reached, what=f"message {message_id} {wanted}", interval=0.05)


def send(*args: str) -> dict[str, Any]:
    result = run("--sandbox", "-o", "json", "messages", "send", "--to", TO, *args)
    assert result.exit_code == 0, result.stderr
    sent: dict[str, Any] = json.loads(result.stdout)
    return sent


# --- send --template ---------------------------------------------------------------------------


def test_the_issue_example_sends_a_template(running_sandbox: RunningSandbox) -> None:
    """The example of issue #14, with the third parameter order_confirmation takes."""
    result = run(
        "--sandbox", "messages", "send", "--to", TO, "--template", "order_confirmation",
        "--lang", "en", "--param", "John", "--param", "ORD-12345", "--param", "$99.99",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    message_id = result.stdout.strip()
    assert message_id.startswith("wamid.")
    assert "(template order_confirmation, en)" in result.stderr
    data = status_of(message_id, "read")  # never wrote, but templates are not held back
    assert data["type"] == "template"
    assert data["template"] == "order_confirmation"
    human = run("--sandbox", "messages", "status", message_id)
    assert "order_confirmation" in human.stdout


def test_lang_defaults_to_en_and_json_is_the_api_answer(running_sandbox: RunningSandbox) -> None:
    sent = send("--template", "shipping_update", "--param", "John", "--param", "1Z999AA10")
    assert set(sent) == {"message_id", "to", "template", "status", "timestamp"}
    assert sent["template"] == "shipping_update" and sent["status"] == "sent"


def test_a_template_without_placeholders_needs_no_param(running_sandbox: RunningSandbox) -> None:
    assert send("--template", "hello_world")["template"] == "hello_world"


def test_another_language_version(running_sandbox: RunningSandbox) -> None:
    sent = send("--template", "order_confirmation", "--lang", "es", *["--param", "x"] * 3)
    assert sent["template"] == "order_confirmation"


@pytest.mark.parametrize(
    ("args", "exit_code", "said"),
    [
        (["--template", "order_confirmaton", "--param", "x"], 4, "'order_confirmaton'"),
        (["--template", "order_confirmation", "--param", "John"], 4, "3 body parameters"),
        (["--template", "order_confirmation", "--lang", "fr"], 4, "'fr'"),
        (["--template", "spring_sale", *["--param", "x"] * 3], 4, "PENDING"),
    ],
)
def test_wrong_input_is_one_line_error(
    running_sandbox: RunningSandbox, args: list[str], exit_code: int, said: str
) -> None:
    result = run("--sandbox", "messages", "send", "--to", TO, *args)
    assert result.exit_code == exit_code, result.stderr
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and said in error_lines[0], result.stderr
    hints = [line for line in result.stderr.splitlines() if line.startswith("hint:")]
    assert hints == [hints[0]] and "apimw messages templates" in hints[0], result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--template", "hello_world", "--text", "hi"], "both given"),
        (["--template", "hello_world", "--preview-url"], "--preview-url"),
        (["--text", "hi", "--param", "John"], "--param goes with --template"),
        (["--text", "hi", "--lang", "es"], "--lang goes with --template"),
        ([], "the message text is empty"),  # nothing given (standard input is empty here)
    ],
)
def test_usage_errors_before_any_request(args: list[str], said: str) -> None:
    result = run("messages", "send", "--to", TO, *args)
    assert result.exit_code == 2
    assert said in result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")] == [
        next(line for line in result.stderr.splitlines() if said in line)
    ]


# --- templates ---------------------------------------------------------------------------------


def test_templates_lists_every_page_as_json(running_sandbox: RunningSandbox) -> None:
    result = run("--sandbox", "-o", "json", "messages", "templates")
    assert result.exit_code == 0, result.stderr
    listed = json.loads(result.stdout)
    token = httpx.post(
        f"{running_sandbox.base_url}/auth/token",
        json={
            "api_key": running_sandbox.config.api_key,
            "api_secret": running_sandbox.config.api_secret,
        },
    ).json()["data"]["access_token"]
    answer = httpx.get(
        f"{running_sandbox.base_url}/whatsapp/templates",
        params={"per_page": 100},
        headers={"Authorization": f"Bearer {token}"},
    ).json()["data"]
    assert listed == answer["templates"]
    assert len(listed) == answer["pagination"]["total"]


def test_templates_follows_pages_of_two(
    running_sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that caps pages at 2 items: the CLI still sees them all."""
    from apimw_cli.api import pagination

    monkeypatch.setattr(pagination, "PAGE_SIZE", 2)
    result = run("--sandbox", "-o", "json", "messages", "templates")
    names = [t["name"] for t in json.loads(result.stdout)]
    assert len(names) == 7 and "win_back_offer" in names


def test_templates_table_and_status_filter(running_sandbox: RunningSandbox) -> None:
    result = run("--sandbox", "messages", "templates", "--status", "approved")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "LANGUAGE", "STATUS", "CATEGORY", "PARAMS", "BODY"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert set(rows) == {
        "appointment_reminder",
        "hello_world",
        "order_confirmation",
        "shipping_update",
    }
    assert rows["shipping_update"][4] == "2"
    assert "PENDING" not in result.stdout


def test_templates_category_filter_and_nothing_found(running_sandbox: RunningSandbox) -> None:
    result = run("--sandbox", "-o", "json", "messages", "templates", "--category", "otp")
    assert json.loads(result.stdout) == []
    human = run("--sandbox", "messages", "templates", "--category", "otp")
    assert "no templates match" in human.stderr


def test_templates_refuses_an_unknown_status() -> None:
    result = run("messages", "templates", "--status", "live")
    assert result.exit_code == 2
    assert all(status in result.stderr.lower() for status in ("approved", "pending", "rejected"))


# --- the 24-hour window ------------------------------------------------------------------------


def test_a_text_to_a_customer_who_never_wrote_fails_131047(
    running_sandbox: RunningSandbox,
) -> None:
    sent = send("--text", "hello")
    assert sent["status"] == "sent"
    data = status_of(sent["message_id"], "failed")
    assert data["error"]["code"] == "131047"
    human = run("--sandbox", "messages", "status", sent["message_id"])
    assert "131047: Re-engagement message" in human.stdout
    assert "--template" in human.stderr  # the hint: open the conversation with a template


def test_after_the_customer_writes_a_text_is_read(running_sandbox: RunningSandbox) -> None:
    wrote = run("--sandbox", "trigger", "message.received", "--set", f"data.from={TO}")
    assert wrote.exit_code == 0, wrote.stderr
    assert status_of(send("--text", "hello")["message_id"], "read")["status"] == "read"


def test_without_the_window_every_text_is_delivered(
    make_sandbox: MakeSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from apimw_cli.settings import ENV_SANDBOX_URL

    monkeypatch.setenv(ENV_SANDBOX_URL, make_sandbox(service_window=False).base_url)
    assert status_of(send("--text", "hello")["message_id"], "read")["status"] == "read"


def test_sandbox_no_window_flag_reaches_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """`apimw sandbox --no-window` builds a config with the rule off (the server is not run)."""
    from apimw_cli.commands import sandbox as command

    configs: list[Any] = []
    monkeypatch.setattr(command, "_serve", lambda _state, config, **_: configs.append(config))
    assert run("sandbox", "--ephemeral", "--no-window").exit_code == 0
    assert run("sandbox", "--ephemeral").exit_code == 0
    assert [c.service_window for c in configs] == [False, True]
