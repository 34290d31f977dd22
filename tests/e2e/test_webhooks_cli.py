"""`apimw webhooks` against the sandbox: every command and option, end to end.

Each test talks to an ephemeral sandbox on port 0 (`running_sandbox` or `shared_sandbox`, or
one of its own for the retry schedule and the rate limit) and, where deliveries matter, to a
webhook endpoint on 127.0.0.1:0 that records what it gets (tests/support).
"""

from __future__ import annotations

import json
import os
import re
import ssl
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from typer.testing import Result

from apimw_cli import catalog
from apimw_cli.output import mask
from apimw_cli.protocol import SIGNATURE_HEADER
from apimw_cli.sandbox.server import RunningSandbox, SandboxConfig, run_in_thread
from apimw_cli.settings import ENV_SANDBOX_URL, SANDBOX_API_KEY, SANDBOX_API_SECRET
from apimw_cli.signing import verify
from tests.support.cli import run
from tests.support.endpoint import Behaviour, Endpoint
from tests.support.sandbox import MakeEndpoint
from tests.support.waiting import wait_for

T = TypeVar("T")

SECRET_RE = re.compile(r"whsec_[A-Za-z0-9_-]{20,}")
GIVEN_SECRET = "whsec_given-secret-for-the-e2e-tests-0123456789"
UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens, connections are refused
MESSAGE_EVENTS = [n for n in catalog.EVENT_NAMES if n.startswith("message.")]


# --- webhook endpoints (tests/support/endpoint.py) ------------------------------------------

MODES = {
    "echo": Behaviour(),  # answers the verification challenge
    "ignore": Behaviour(challenge="like_delivery"),  # answers it like a delivery: "ok"
    "fail": Behaviour(status=500, body=b"boom", challenge="like_delivery"),  # 500 to everything
}
MakeModeEndpoint = Callable[[str], Endpoint]


@pytest.fixture
def make_mode_endpoint(make_endpoint: MakeEndpoint) -> MakeModeEndpoint:
    """An endpoint on a path of its own that answers per MODES["echo" | "ignore" | "fail"]."""

    def make(mode: str = "echo") -> Endpoint:
        return make_endpoint(MODES[mode], unique_path=True)

    return make


# --- direct API access (setup and triggers, not under test) ----------------------------------


# Loading the CA store takes ~50 ms per client: do it once (the sandbox speaks plain http).
TLS = ssl.create_default_context()


@contextmanager
def api_client(running: RunningSandbox) -> Iterator[httpx.Client]:
    """An httpx client on the sandbox's API with a fresh bearer token."""
    with httpx.Client(base_url=running.base_url, timeout=10.0, verify=TLS) as client:
        response = client.post(
            "auth/token", json={"api_key": SANDBOX_API_KEY, "api_secret": SANDBOX_API_SECRET}
        )
        response.raise_for_status()
        client.headers["Authorization"] = f"Bearer {response.json()['data']['access_token']}"
        yield client


@pytest.fixture
def shared_sandbox_api(shared_sandbox: RunningSandbox) -> Iterator[httpx.Client]:
    with api_client(shared_sandbox) as client:
        yield client


@pytest.fixture
def sandbox_api(running_sandbox: RunningSandbox) -> Iterator[httpx.Client]:
    with api_client(running_sandbox) as client:
        yield client


@pytest.fixture
def fast_sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningSandbox]:
    """A sandbox whose five attempts take about a quarter of a second."""
    config = SandboxConfig(port=0, ephemeral=True, time_scale=36000.0, rate_limit=0)
    with run_in_thread(config) as running:
        monkeypatch.setenv(ENV_SANDBOX_URL, running.base_url)
        yield running


def get_webhook(api: httpx.Client, webhook_id: str) -> dict[str, Any]:
    data: dict[str, Any] = api.get(f"webhooks/{webhook_id}").json()["data"]
    return data


def trigger(api: httpx.Client, event_type: str) -> None:
    response = api.post("sandbox/events", json={"type": event_type})
    assert response.status_code == 200, response.text


# --- the CLI ---------------------------------------------------------------------------------


def cli(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
    return run("--sandbox", *args, input=input, env=env)


def cli_json(*args: str, input: str | None = None) -> Any:
    result = cli("-o", "json", *args, input=input)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def register(url: str, *args: str, events: str = "message.sent") -> dict[str, Any]:
    """A webhook registered through the CLI (JSON output, without waiting for verification)."""
    data: dict[str, Any] = cli_json(
        "webhooks", "register", "--url", url, "--events", events, "--no-wait", *args
    )
    return data


def all_output(result: Result) -> str:
    return result.stdout + result.stderr


def stderr_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


# --- register: events ------------------------------------------------------------------------


def test_register_events_comma_separated_and_repeated(
    shared_sandbox: RunningSandbox, endpoint: Endpoint
) -> None:
    data = cli_json(
        "webhooks", "register", "--url", endpoint.url, "--no-wait",
        "--events", "message.sent,message.read", "-e", "quota.warning",
    )  # fmt: skip
    assert sorted(data["events"]) == ["message.read", "message.sent", "quota.warning"]


def test_register_expands_a_glob(shared_sandbox: RunningSandbox, endpoint: Endpoint) -> None:
    data = register(endpoint.url, events="message.*")
    assert sorted(data["events"]) == sorted(MESSAGE_EVENTS)


def test_register_all_subscribes_to_every_event(
    shared_sandbox: RunningSandbox, endpoint: Endpoint
) -> None:
    data = register(endpoint.url, events="all")
    assert sorted(data["events"]) == sorted(catalog.EVENT_NAMES)


def test_register_typo_suggests_the_right_event(shared_sandbox: RunningSandbox) -> None:
    result = cli(
        "webhooks", "register", "--url", f"{UNREACHABLE}/h", "--events", "message.delivred"
    )
    assert result.exit_code == 2
    assert "did you mean 'message.delivered'" in result.stderr


def test_register_typo_sends_nothing(
    running_sandbox: RunningSandbox, sandbox_api: httpx.Client
) -> None:
    cli("webhooks", "register", "--url", f"{UNREACHABLE}/h", "--events", "mesage.sent")
    assert sandbox_api.get("webhooks").json()["data"]["webhooks"] == []


# --- register: URLs --------------------------------------------------------------------------


def test_register_refuses_plain_http_to_a_public_host(shared_sandbox: RunningSandbox) -> None:
    result = cli(
        "webhooks", "register", "--url", "http://example.com/hook", "--events", "message.sent"
    )
    assert result.exit_code == 2
    assert "HTTPS" in result.stderr
    assert "apimw listen" in result.stderr


def test_register_accepts_loopback_http_with_sandbox(
    shared_sandbox: RunningSandbox, endpoint: Endpoint
) -> None:
    result = cli(
        "webhooks", "register", "--url", f"{endpoint.url}/hook", "--events", "message.sent",
        "--no-wait",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert f"{endpoint.url}/hook" in result.stdout


# --- register: secrets -----------------------------------------------------------------------


def test_register_shows_a_generated_secret_once_with_a_warning(
    shared_sandbox: RunningSandbox, endpoint: Endpoint
) -> None:
    result = cli(
        "webhooks", "register", "--url", endpoint.url, "--events", "message.sent", "--no-wait"
    )
    assert result.exit_code == 0, result.stderr
    shown = SECRET_RE.findall(result.stdout)
    assert len(shown) == 1
    assert shown[0] not in result.stderr
    assert "warning:" in result.stderr
    assert "shown once" in result.stderr


def test_register_json_includes_the_generated_secret(
    shared_sandbox: RunningSandbox, endpoint: Endpoint
) -> None:
    data = register(endpoint.url)
    assert SECRET_RE.fullmatch(data["secret"])
    assert data["id"].startswith("whk_")


def test_register_generate_secret_flag_generates_one(
    shared_sandbox: RunningSandbox, endpoint: Endpoint
) -> None:
    data = register(endpoint.url, "--generate-secret")
    assert SECRET_RE.fullmatch(data["secret"])


def test_register_json_secret_verifies_a_real_delivery(
    shared_sandbox: RunningSandbox, shared_sandbox_api: httpx.Client, endpoint: Endpoint
) -> None:
    secret = register(endpoint.url)["secret"]
    trigger(shared_sandbox_api, "message.sent")
    delivery = wait_for(endpoint.deliveries, 10.0, "a delivery")[0]
    verdict = verify(delivery.body, delivery.headers.get(SIGNATURE_HEADER), secret)
    assert verdict.valid, verdict.reason


def test_register_secret_stdin_is_masked_not_echoed(
    shared_sandbox: RunningSandbox, endpoint: Endpoint
) -> None:
    result = cli(
        "webhooks", "register", "--url", endpoint.url, "--events", "message.sent", "--no-wait",
        "--secret-stdin", input=GIVEN_SECRET + "\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert GIVEN_SECRET not in all_output(result)
    assert mask(GIVEN_SECRET) in result.stdout


def test_register_secret_stdin_signs_deliveries(
    shared_sandbox: RunningSandbox, shared_sandbox_api: httpx.Client, endpoint: Endpoint
) -> None:
    data = cli_json(
        "webhooks", "register", "--url", f"{endpoint.url}/given", "--events", "message.sent",
        "--no-wait", "--secret-stdin", input=GIVEN_SECRET + "\n",
    )  # fmt: skip
    assert "secret" not in data
    trigger(shared_sandbox_api, "message.sent")
    delivery = wait_for(endpoint.deliveries, 10.0, "a delivery")[0]
    assert verify(delivery.body, delivery.headers.get(SIGNATURE_HEADER), GIVEN_SECRET).valid


def test_register_secret_env_is_masked_not_echoed(
    shared_sandbox: RunningSandbox, endpoint: Endpoint
) -> None:
    result = cli(
        "webhooks", "register", "--url", endpoint.url, "--events", "message.sent", "--no-wait",
        "--secret-env", "MY_HOOK_SECRET", env={"MY_HOOK_SECRET": GIVEN_SECRET},
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert GIVEN_SECRET not in all_output(result)
    assert mask(GIVEN_SECRET) in result.stdout


def test_register_secret_env_json_has_no_secret(
    shared_sandbox: RunningSandbox, endpoint: Endpoint
) -> None:
    result = cli(
        "-o", "json", "webhooks", "register", "--url", endpoint.url, "--events", "message.sent",
        "--no-wait", "--secret-env", "MY_HOOK_SECRET", env={"MY_HOOK_SECRET": GIVEN_SECRET},
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "secret" not in json.loads(result.stdout)
    assert GIVEN_SECRET not in all_output(result)


def test_register_secret_env_unset_is_a_usage_error(shared_sandbox: RunningSandbox) -> None:
    result = cli(
        "webhooks", "register", "--url", f"{UNREACHABLE}/h", "--events", "message.sent",
        "--secret-env", "APIMW_TEST_NOT_SET",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "APIMW_TEST_NOT_SET" in result.stderr


def test_register_two_secret_sources_is_a_usage_error(shared_sandbox: RunningSandbox) -> None:
    result = cli(
        "webhooks", "register", "--url", f"{UNREACHABLE}/h", "--events", "message.sent",
        "--secret-stdin", "--secret-env", "X", input="whsec_x\n", env={"X": "whsec_y"},
    )  # fmt: skip
    assert result.exit_code == 2


def test_register_generate_secret_with_a_given_one_is_a_usage_error(
    shared_sandbox: RunningSandbox,
) -> None:
    result = cli(
        "webhooks", "register", "--url", f"{UNREACHABLE}/h", "--events", "message.sent",
        "--generate-secret", "--secret-env", "X", env={"X": GIVEN_SECRET},
    )  # fmt: skip
    assert result.exit_code == 2
    assert GIVEN_SECRET not in all_output(result)


def test_register_secret_file_is_0600_and_secret_not_on_stdout(
    shared_sandbox: RunningSandbox, endpoint: Endpoint, tmp_path: Path
) -> None:
    path = tmp_path / "hook.secret"
    result = cli(
        "webhooks", "register", "--url", endpoint.url, "--events", "message.sent", "--no-wait",
        "--secret-file", str(path),
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    secret = path.read_text().strip()
    assert SECRET_RE.fullmatch(secret)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert secret not in all_output(result)
    assert str(path) in result.stdout


def test_register_secret_file_json_names_the_file(
    shared_sandbox: RunningSandbox, endpoint: Endpoint, tmp_path: Path
) -> None:
    path = tmp_path / "hook.secret"
    data = register(endpoint.url, "--secret-file", str(path))
    assert "secret" not in data
    assert data["secret_file"] == str(path)


# --- register: other options and verification -----------------------------------------------


def test_register_inactive(shared_sandbox: RunningSandbox, endpoint: Endpoint) -> None:
    data = register(endpoint.url, "--inactive")
    assert data["active"] is False


def test_register_description(shared_sandbox: RunningSandbox, endpoint: Endpoint) -> None:
    data = register(endpoint.url, "--description", "orders service")
    assert data["description"] == "orders service"


def test_register_reports_the_challenge_answered(
    shared_sandbox: RunningSandbox, endpoint: Endpoint
) -> None:
    result = cli("webhooks", "register", "--url", endpoint.url, "--events", "message.sent")
    assert result.exit_code == 0, result.stderr
    assert "verification challenge answered" in result.stderr


def test_register_warns_when_the_challenge_is_not_answered(
    shared_sandbox: RunningSandbox, make_mode_endpoint: MakeModeEndpoint
) -> None:
    ignoring = make_mode_endpoint("ignore")
    result = cli("webhooks", "register", "--url", ignoring.url, "--events", "message.sent")
    assert result.exit_code == 0, result.stderr
    assert "warning: the endpoint did not answer the verification challenge" in result.stderr
    assert "verification challenge answered" not in result.stderr


def test_register_no_wait_reports_verification_pending(
    shared_sandbox: RunningSandbox, endpoint: Endpoint
) -> None:
    result = cli(
        "webhooks", "register", "--url", endpoint.url, "--events", "message.sent", "--no-wait"
    )
    assert result.exit_code == 0, result.stderr
    assert "verification still pending" in result.stderr
    assert "verification challenge answered" not in result.stderr


# --- list ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def listing_sandbox() -> Iterator[tuple[RunningSandbox, str, str]]:
    """A sandbox holding only an active webhook for message.sent and an inactive one for
    quota.warning (made through the API: they are the setup, not what is tested)."""
    config = SandboxConfig(port=0, ephemeral=True, rate_limit=0)
    with run_in_thread(config) as running, api_client(running) as api:
        active = api.post(
            "webhooks", json={"url": f"{UNREACHABLE}/active", "events": ["message.sent"]}
        )
        inactive = api.post(
            "webhooks",
            json={"url": f"{UNREACHABLE}/inactive", "events": ["quota.warning"], "active": False},
        )
        yield running, active.json()["data"]["id"], inactive.json()["data"]["id"]


@pytest.fixture
def two_webhooks(
    listing_sandbox: tuple[RunningSandbox, str, str], monkeypatch: pytest.MonkeyPatch
) -> tuple[str, str]:
    """The ids of the active and the inactive webhook of `listing_sandbox`, the only two."""
    running, active, inactive = listing_sandbox
    monkeypatch.setenv(ENV_SANDBOX_URL, running.base_url)
    return active, inactive


def test_list_table(two_webhooks: tuple[str, str]) -> None:
    result = cli("webhooks", "list")
    assert result.exit_code == 0, result.stderr
    header = result.stdout.splitlines()[0].split()
    assert header[:4] == ["ID", "URL", "EVENTS", "STATUS"]
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[1:]}
    assert set(rows) == set(two_webhooks)
    assert rows[two_webhooks[0]][1:4] == [f"{UNREACHABLE}/active", "message.sent", "active"]
    assert rows[two_webhooks[1]][1:4] == [f"{UNREACHABLE}/inactive", "quota.warning", "inactive"]


def test_list_json_is_a_list(two_webhooks: tuple[str, str]) -> None:
    data = cli_json("webhooks", "list")
    assert isinstance(data, list)
    assert sorted(w["id"] for w in data) == sorted(two_webhooks)


def test_list_empty(running_sandbox: RunningSandbox) -> None:
    assert cli_json("webhooks", "list") == []


def test_list_active_filter(two_webhooks: tuple[str, str]) -> None:
    data = cli_json("webhooks", "list", "--active")
    assert [w["id"] for w in data] == [two_webhooks[0]]


def test_list_inactive_filter(two_webhooks: tuple[str, str]) -> None:
    data = cli_json("webhooks", "list", "--inactive")
    assert [w["id"] for w in data] == [two_webhooks[1]]


def test_list_event_filter(two_webhooks: tuple[str, str]) -> None:
    data = cli_json("webhooks", "list", "--event", "quota.warning")
    assert [w["id"] for w in data] == [two_webhooks[1]]


def test_list_active_and_inactive_is_a_usage_error(shared_sandbox: RunningSandbox) -> None:
    result = cli("webhooks", "list", "--active", "--inactive")
    assert result.exit_code == 2
    assert "--active" in result.stderr


def test_list_follows_pages(running_sandbox: RunningSandbox, sandbox_api: httpx.Client) -> None:
    created = set()
    for i in range(105):
        # nothing listens there: the verification challenges fail at once
        response = sandbox_api.post(
            "webhooks", json={"url": f"{UNREACHABLE}/hook/{i}", "events": ["message.sent"]}
        )
        assert response.status_code == 201, response.text
        created.add(response.json()["data"]["id"])
    data = cli_json("webhooks", "list")
    assert len(data) == 105
    assert {w["id"] for w in data} == created


# --- inspect ---------------------------------------------------------------------------------


def test_inspect_by_full_id(shared_sandbox: RunningSandbox, endpoint: Endpoint) -> None:
    webhook_id = register(endpoint.url)["id"]
    result = cli("webhooks", "inspect", webhook_id)
    assert result.exit_code == 0, result.stderr
    assert webhook_id in result.stdout
    assert endpoint.url in result.stdout


def test_inspect_json_by_full_id(shared_sandbox: RunningSandbox, endpoint: Endpoint) -> None:
    created = register(endpoint.url, "--description", "d")
    data = cli_json("webhooks", "inspect", created["id"])
    assert data["id"] == created["id"]
    assert data["description"] == "d"
    assert data["deliveries"] == []


def unique_prefix(target: str, others: list[str]) -> str:
    for length in range(len("whk_") + 1, len(target)):
        prefix = target[:length]
        if not any(o.startswith(prefix) for o in others):
            return prefix
    raise AssertionError("no unique prefix")


def test_inspect_by_unique_prefix(two_webhooks: tuple[str, str]) -> None:
    first, second = two_webhooks
    data = cli_json("webhooks", "inspect", unique_prefix(first, [second]))
    assert data["id"] == first


def test_inspect_by_exact_url(shared_sandbox: RunningSandbox, endpoint: Endpoint) -> None:
    register(f"{endpoint.url}/other")
    wanted = register(f"{endpoint.url}/by-url")["id"]
    data = cli_json("webhooks", "inspect", f"{endpoint.url}/by-url")
    assert data["id"] == wanted


def test_inspect_ambiguous_prefix_lists_candidates(two_webhooks: tuple[str, str]) -> None:
    result = cli("webhooks", "inspect", "whk_")
    assert result.exit_code == 2
    assert all(webhook_id in result.stderr for webhook_id in two_webhooks)
    assert result.stdout == ""


def test_inspect_unknown_is_not_found(shared_sandbox: RunningSandbox) -> None:
    result = cli("webhooks", "inspect", "whk_doesnotexist")
    assert result.exit_code == 4
    assert "NOT_FOUND" in result.stderr
    assert "whk_doesnotexist" in result.stderr


def test_inspect_shows_recent_deliveries(
    shared_sandbox: RunningSandbox, shared_sandbox_api: httpx.Client, endpoint: Endpoint
) -> None:
    webhook_id = register(endpoint.url)["id"]
    trigger(shared_sandbox_api, "message.sent")
    wait_for(
        lambda: shared_sandbox_api.get(f"webhooks/{webhook_id}/deliveries").json()["data"][
            "deliveries"
        ],
        10.0,
        "attempt",
    )
    result = cli("webhooks", "inspect", webhook_id)
    assert result.exit_code == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()]
    assert any("message.sent" in row and "200" in row for row in rows), result.stdout


def test_inspect_json_includes_recent_deliveries(
    shared_sandbox: RunningSandbox, shared_sandbox_api: httpx.Client, endpoint: Endpoint
) -> None:
    webhook_id = register(endpoint.url)["id"]
    trigger(shared_sandbox_api, "message.sent")
    wait_for(
        lambda: shared_sandbox_api.get(f"webhooks/{webhook_id}/deliveries").json()["data"][
            "deliveries"
        ],
        10.0,
        "attempt",
    )
    data = cli_json("webhooks", "inspect", webhook_id)
    assert [(d["event_type"], d["status_code"]) for d in data["deliveries"]] == [
        ("message.sent", 200)
    ]


def test_inspect_deliveries_option_limits_the_attempts(
    shared_sandbox: RunningSandbox, shared_sandbox_api: httpx.Client, endpoint: Endpoint
) -> None:
    webhook_id = register(endpoint.url)["id"]
    trigger(shared_sandbox_api, "message.sent")
    trigger(shared_sandbox_api, "message.sent")
    wait_for(
        lambda: (
            len(
                shared_sandbox_api.get(f"webhooks/{webhook_id}/deliveries").json()["data"][
                    "deliveries"
                ]
            )
            >= 2
        ),
        10.0,
        "attempts",
    )
    data = cli_json("webhooks", "inspect", webhook_id, "--deliveries", "1")
    assert len(data["deliveries"]) == 1


@pytest.fixture
def disabled_webhook(fast_sandbox: RunningSandbox, make_mode_endpoint: MakeModeEndpoint) -> str:
    """A webhook APIMW disabled after five failed attempts."""
    failing = make_mode_endpoint("fail")
    webhook_id: str = register(failing.url)["id"]
    with api_client(fast_sandbox) as api:
        trigger(api, "message.sent")
        wait_for(lambda: not get_webhook(api, webhook_id)["active"], 10.0, "the webhook disabled")
    return webhook_id


def test_inspect_disabled_webhook_says_why_and_how_to_enable(disabled_webhook: str) -> None:
    result = cli("webhooks", "inspect", disabled_webhook)
    assert result.exit_code == 0, result.stderr
    assert "disabled" in result.stdout
    assert "disabled by APIMW:" in result.stderr
    assert f"apimw webhooks enable {disabled_webhook}" in result.stderr


def test_enable_reenables_a_disabled_webhook_and_resets_failures(disabled_webhook: str) -> None:
    before = cli_json("webhooks", "inspect", disabled_webhook)
    assert before["failure_count"] >= 5
    result = cli("-o", "json", "webhooks", "enable", disabled_webhook)
    assert result.exit_code == 0, result.stderr
    assert "failure count reset" in result.stderr
    after = json.loads(result.stdout)
    assert after["active"] is True
    assert after["failure_count"] == 0
    assert after["disabled_reason"] is None


# --- update ----------------------------------------------------------------------------------


@pytest.fixture
def webhook(shared_sandbox: RunningSandbox, endpoint: Endpoint) -> dict[str, Any]:
    """A webhook for message.sent and message.read, with a generated secret."""
    return register(endpoint.url, events="message.sent,message.read")


def test_update_url(webhook: dict[str, Any], endpoint: Endpoint) -> None:
    data = cli_json("webhooks", "update", webhook["id"], "--url", f"{endpoint.url}/moved")
    assert data["url"] == f"{endpoint.url}/moved"


def test_update_url_is_checked_like_register(webhook: dict[str, Any]) -> None:
    result = cli("webhooks", "update", webhook["id"], "--url", "http://example.com/h")
    assert result.exit_code == 2
    assert "apimw listen" in result.stderr


def test_update_events_replaces_them(webhook: dict[str, Any]) -> None:
    data = cli_json("webhooks", "update", webhook["id"], "--events", "quota.*")
    assert sorted(data["events"]) == ["quota.exceeded", "quota.warning"]


def test_update_add_and_remove_event(webhook: dict[str, Any]) -> None:
    data = cli_json(
        "webhooks", "update", webhook["id"],
        "--add-event", "quota.warning", "--remove-event", "message.read",
    )  # fmt: skip
    assert sorted(data["events"]) == ["message.sent", "quota.warning"]


def test_update_remove_event_the_webhook_does_not_have_says_so(webhook: dict[str, Any]) -> None:
    result = cli("webhooks", "update", webhook["id"], "--remove-event", "quota.warning")
    assert result.exit_code == 2
    assert "not subscribed to quota.warning" in result.stderr
    assert "message.sent" in result.stderr  # the hint lists what it has
    assert "updated" not in result.stderr
    assert sorted(cli_json("webhooks", "inspect", webhook["id"])["events"]) == [
        "message.read",
        "message.sent",
    ]


def test_update_may_remove_an_event_the_same_command_adds(webhook: dict[str, Any]) -> None:
    data = cli_json(
        "webhooks", "update", webhook["id"],
        "--add-event", "quota.*", "--remove-event", "quota.exceeded",
    )  # fmt: skip
    assert sorted(data["events"]) == ["message.read", "message.sent", "quota.warning"]


def test_update_remove_event_pattern_matching_some_events_removes_them(
    webhook: dict[str, Any],
) -> None:
    data = cli_json("webhooks", "update", webhook["id"], "--remove-event", "message.r*")
    assert data["events"] == ["message.sent"]


def test_update_description(webhook: dict[str, Any]) -> None:
    result = cli("webhooks", "update", webhook["id"], "--description", "billing")
    assert result.exit_code == 0, result.stderr
    assert "updated" in result.stderr
    assert cli_json("webhooks", "inspect", webhook["id"])["description"] == "billing"


def test_update_rotate_secret_shows_the_new_one_once(webhook: dict[str, Any]) -> None:
    result = cli("webhooks", "update", webhook["id"], "--rotate-secret")
    assert result.exit_code == 0, result.stderr
    shown = SECRET_RE.findall(result.stdout)
    assert len(shown) == 1
    assert shown[0] != webhook["secret"]
    assert "shown once" in result.stderr


def test_update_rotate_secret_json_signs_later_deliveries(
    webhook: dict[str, Any], shared_sandbox_api: httpx.Client, endpoint: Endpoint
) -> None:
    data = cli_json("webhooks", "update", webhook["id"], "--rotate-secret")
    assert data["secret"] != webhook["secret"]
    trigger(shared_sandbox_api, "message.sent")
    delivery = wait_for(endpoint.deliveries, 10.0, "a delivery")[0]
    header = delivery.headers.get(SIGNATURE_HEADER)
    assert verify(delivery.body, header, data["secret"]).valid
    assert not verify(delivery.body, header, webhook["secret"]).valid


def test_update_rotate_secret_from_stdin_is_not_echoed(webhook: dict[str, Any]) -> None:
    result = cli(
        "webhooks", "update", webhook["id"], "--rotate-secret", "--secret-stdin",
        input=GIVEN_SECRET + "\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert GIVEN_SECRET not in all_output(result)
    assert mask(GIVEN_SECRET) in result.stdout


def test_update_secret_option_without_rotate_is_a_usage_error(webhook: dict[str, Any]) -> None:
    result = cli("webhooks", "update", webhook["id"], "--secret-env", "X", env={"X": GIVEN_SECRET})
    assert result.exit_code == 2
    assert "--rotate-secret" in result.stderr


def test_update_removing_every_event_is_a_usage_error(webhook: dict[str, Any]) -> None:
    result = cli(
        "webhooks", "update", webhook["id"],
        "--remove-event", "message.sent", "--remove-event", "message.read",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "no events" in result.stderr
    assert sorted(cli_json("webhooks", "inspect", webhook["id"])["events"]) == [
        "message.read",
        "message.sent",
    ]


def test_update_nothing_to_change_is_a_usage_error(webhook: dict[str, Any]) -> None:
    result = cli("webhooks", "update", webhook["id"])
    assert result.exit_code == 2
    assert "nothing to change" in result.stderr


def test_update_events_with_add_event_is_a_usage_error(webhook: dict[str, Any]) -> None:
    result = cli(
        "webhooks", "update", webhook["id"], "--events", "message.sent",
        "--add-event", "message.read",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "--events" in result.stderr


# --- enable / disable ------------------------------------------------------------------------


def test_disable(webhook: dict[str, Any]) -> None:
    result = cli("-o", "json", "webhooks", "disable", webhook["id"])
    assert result.exit_code == 0, result.stderr
    assert f"disabled {webhook['id']}" in result.stderr
    assert json.loads(result.stdout)["active"] is False


def test_enable_after_disable(webhook: dict[str, Any]) -> None:
    cli("webhooks", "disable", webhook["id"])
    result = cli("webhooks", "enable", webhook["id"])
    assert result.exit_code == 0, result.stderr
    assert f"enabled {webhook['id']}" in result.stderr
    assert cli_json("webhooks", "inspect", webhook["id"])["active"] is True


# --- delete ----------------------------------------------------------------------------------


def test_delete_without_yes_off_a_terminal_refuses(webhook: dict[str, Any]) -> None:
    result = cli("webhooks", "delete", webhook["id"])
    assert result.exit_code == 2
    assert "--yes" in result.stderr
    assert cli("webhooks", "inspect", webhook["id"]).exit_code == 0


def test_delete_with_yes(webhook: dict[str, Any]) -> None:
    result = cli("webhooks", "delete", webhook["id"], "--yes")
    assert result.exit_code == 0, result.stderr
    assert f"deleted {webhook['id']}" in result.stderr
    assert cli("webhooks", "inspect", webhook["id"]).exit_code == 4


def test_delete_json_shape(webhook: dict[str, Any]) -> None:
    assert cli_json("webhooks", "delete", webhook["id"], "-y") == {
        "id": webhook["id"],
        "deleted": True,
    }


def test_delete_again_is_not_found(webhook: dict[str, Any]) -> None:
    cli("webhooks", "delete", webhook["id"], "--yes")
    result = cli("webhooks", "delete", webhook["id"], "--yes")
    assert result.exit_code == 4
    assert "NOT_FOUND" in result.stderr
    assert webhook["id"] in result.stderr


# --- errors from the server ------------------------------------------------------------------


@pytest.mark.parametrize("command", ["register", "update"])
def test_server_validation_error_is_one_clear_line(
    command: str, shared_sandbox: RunningSandbox, endpoint: Endpoint
) -> None:
    args = ["--description", "x" * 501]
    if command == "register":
        result = cli(
            "webhooks", "register", "--url", endpoint.url, "--events", "message.sent", *args
        )
    else:
        result = cli("webhooks", "update", register(endpoint.url)["id"], *args)
    assert result.exit_code == 4
    lines = stderr_lines(result)
    assert 1 <= len(lines) <= 2, result.stderr
    assert lines[0].startswith("error: VALIDATION_ERROR: description: ")
    assert all(line.startswith("hint:") for line in lines[1:])
    assert "Traceback" not in all_output(result)
    assert result.stdout == ""


def test_rate_limited_run_succeeds_after_waiting(
    monkeypatch: pytest.MonkeyPatch, endpoint: Endpoint
) -> None:
    """The CLI waits as long as the sandbox's 429 asks, then succeeds. The wait passes on the
    clock (the sandbox's rate limit reads time.time) instead of in real time."""
    waits: list[float] = []
    wall_clock = time.time
    monkeypatch.setattr(time, "time", lambda: wall_clock() + sum(waits))
    config = SandboxConfig(port=0, ephemeral=True, rate_limit=3, rate_window=2.0)
    with run_in_thread(config) as running:
        monkeypatch.setenv(ENV_SANDBOX_URL, running.base_url)
        results = []
        for _ in range(8):
            result = run("--sandbox", "webhooks", "list", sleep=waits.append)
            results.append(result)
            if "rate limited, retrying in" in result.stderr:
                break
    assert all(r.exit_code == 0 for r in results), [r.stderr for r in results]
    assert "rate limited, retrying in" in results[-1].stderr
    assert waits and waits[0] >= 1.0  # the sandbox's Retry-After: at least a second


# --- secrets never leak ----------------------------------------------------------------------


def test_secrets_never_appear_in_other_output(
    running_sandbox: RunningSandbox, sandbox_api: httpx.Client, endpoint: Endpoint
) -> None:
    generated = register(f"{endpoint.url}/generated")
    given = cli_json(
        "webhooks", "register", "--url", f"{endpoint.url}/given", "--events", "message.sent",
        "--no-wait", "--secret-stdin", input=GIVEN_SECRET + "\n",
    )  # fmt: skip
    rotated = cli_json("webhooks", "update", given["id"], "--rotate-secret")
    secrets = [generated["secret"], GIVEN_SECRET, rotated["secret"]]
    trigger(sandbox_api, "message.sent")
    wait_for(lambda: len(endpoint.deliveries()) >= 2, 10.0, "deliveries")
    ids = [generated["id"], given["id"]]
    results = [
        cli("webhooks", "list"),
        cli("-o", "json", "webhooks", "list"),
        *(cli("webhooks", "inspect", i) for i in ids),
        *(cli("-o", "json", "webhooks", "inspect", i) for i in ids),
        cli("webhooks", "update", ids[0], "--description", "no secrets here"),
        cli("-o", "json", "webhooks", "update", ids[1], "--add-event", "message.read"),
        cli("webhooks", "disable", ids[0]),
        cli("-o", "json", "webhooks", "enable", ids[0]),
        cli("webhooks", "inspect", "whk_"),
        cli("webhooks", "inspect", "whk_nope"),
        cli("webhooks", "update", ids[0]),
        cli("webhooks", "update", ids[0], "--description", "x" * 501),
        cli("webhooks", "delete", ids[0]),
        cli("webhooks", "delete", ids[0], "--yes"),
        cli("-o", "json", "webhooks", "delete", ids[1], "--yes"),
        cli("webhooks", "delete", ids[0], "--yes"),
    ]
    assert [r.exit_code for r in results] == [0] * 10 + [2, 4, 2, 4, 2, 0, 0, 4]
    for result in results:
        for secret in secrets:
            assert secret not in all_output(result)
