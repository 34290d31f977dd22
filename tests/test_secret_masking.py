"""Secrets never reach the terminal in full: known secrets, secret-looking values and URL
credentials are masked in every message, hint and `--debug` traceback (chained exceptions
included); URLs on stdout lose their password."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from apimw_cli.commands.common import AppState
from apimw_cli.errors import ApimwError, NetworkError
from apimw_cli.main import _crash, _traceback, app
from apimw_cli.output import Printer, mask_url, redact, remember
from apimw_cli.output.masking import forget_all, known_secrets
from apimw_cli.settings import ENV_NGROK_PATH
from tests.fake_ngrok import ERR_105_LINE, kill_all, make_fake_agent
from tests.support.cli import run

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c3JfMSIsImV4cCI6MX0.c2lnbmF0dXJlLXZhbHVlLWhlcmU"
WHSEC = "whsec_Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0"
REFRESH = "rt_8Qk2vN4x7LmP0sT3wY6zB9cF1hJ5"
API_SECRET = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"
NGROK = "2fakeAuthtoken0123456789abcdefghijklmnop"


@pytest.fixture(autouse=True)
def fresh_memory() -> Iterator[None]:
    forget_all()
    yield
    forget_all()


def printed(call: str, text: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    printer = Printer(stdout=out, stderr=err, no_color=True)
    getattr(printer, call)(text)
    return out.getvalue(), err.getvalue()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:password@api.example.com/v1", "https://user:***@api.example.com/v1"),
        ("https://token@api.example.com/v1", "https://***@api.example.com/v1"),
        ("http://u:p@ss@localhost:8080/x?q=a@b", "http://u:***@localhost:8080/x?q=a@b"),
        ("https://:secret@host", "https://***@host"),
        ("https://api.example.com/v1?mail=a@b.c", "https://api.example.com/v1?mail=a@b.c"),
        ("mailto me at a@b.c", "mailto me at a@b.c"),
    ],
)
def test_url_credentials_are_masked(url: str, shown: str) -> None:
    assert mask_url(url) == shown
    assert mask_url(f"GET {url} failed") == f"GET {shown} failed"


def test_masking_stops_at_the_end_of_a_json_string() -> None:
    compact = '{"url":"https://host/x","to":"a@b","api":"https://u:pw@h/v1"}'
    assert mask_url(compact) == '{"url":"https://host/x","to":"a@b","api":"https://u:***@h/v1"}'


@pytest.mark.parametrize("secret", [JWT, WHSEC, REFRESH, API_SECRET, "tok_abcdef0123456789"])
def test_secret_looking_values_are_masked(secret: str) -> None:
    text = redact(f"refused {secret}, and 'Bearer {secret}'")
    assert secret not in text
    assert secret[-4:] in text or "****" in text


def test_a_bearer_token_of_any_shape_is_masked_but_prose_is_not() -> None:
    assert "abc123def456ghi789" not in redact("Authorization: Bearer abc123def456ghi789")
    assert redact("send the Bearer authentication header") == (
        "send the Bearer authentication header"
    )


def test_remembered_secrets_of_any_shape_are_masked_and_short_ones_ignored() -> None:
    remember(NGROK, "short", None, "")
    assert NGROK in known_secrets() and "short" not in known_secrets()
    assert NGROK not in redact(f"token {NGROK} rejected")
    assert redact("a short word") == "a short word"


def test_already_masked_values_stay_as_they_are() -> None:
    for shown in ("whsec_...abcd", "sk_live_****", "https://u:***@h/v1"):
        assert redact(shown) == shown


@pytest.mark.parametrize("call", ["info", "warn", "success"])
def test_every_message_on_stderr_is_redacted(call: str) -> None:
    remember(NGROK)
    _, err = printed(call, f"{NGROK} {WHSEC} https://u:pw@host/v1")
    assert NGROK not in err and WHSEC not in err and ":pw@" not in err
    assert "https://u:***@host/v1" in err


def test_errors_and_hints_are_redacted() -> None:
    err = io.StringIO()
    Printer(stderr=err).error(f"GET https://u:pw@h/v1 failed ({API_SECRET})", f"see {JWT}")
    assert ":pw@" not in err.getvalue() and API_SECRET not in err.getvalue()
    assert JWT not in err.getvalue()


def test_data_on_stdout_keeps_secrets_but_not_url_passwords() -> None:
    # --print-secret and a generated secret shown once are data: printed as they are.
    out, _ = printed("line", WHSEC)
    assert out.strip() == WHSEC
    out, _ = printed("line", "https://u:pw@h/v1")
    assert out.strip() == "https://u:***@h/v1"
    buffer = io.StringIO()
    printer = Printer(stdout=buffer, output="json")
    printer.data({"api_base": "https://u:pw@h/v1", "secret": WHSEC})
    assert ":pw@" not in buffer.getvalue() and WHSEC in buffer.getvalue()
    buffer = io.StringIO()
    printer = Printer(stdout=buffer)
    printer.table(["url"], [["https://u:pw@h/v1"]])
    printer.fields({"url": "https://u:pw@h/v1"})
    assert ":pw@" not in buffer.getvalue()


def _chained() -> ApimwError:
    try:
        try:
            raise RuntimeError(f"agent said: Your authtoken: {NGROK}")  # like pyngrok's
        except RuntimeError as inner:
            raise ValueError(f"while handling {WHSEC}") from inner
    except ValueError as middle:
        try:
            raise ApimwError("the tunnel failed") from middle
        except ApimwError as outer:
            return outer


def test_the_debug_traceback_covers_the_whole_chain() -> None:
    text = _traceback(_chained())
    # Unmasked here: the chain is all there (masking is the Printer's).
    assert NGROK in text and WHSEC in text and "the tunnel failed" in text


def test_an_unexpected_exception_prints_a_masked_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    remember(NGROK)
    try:
        raise KeyError(f"https://admin:hunter2hunter2@api.example.com {NGROK}")
    except KeyError as error:
        assert _crash(error) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "unexpected KeyError" in err
    assert NGROK not in err and "hunter2hunter2" not in err


def test_debug_masks_a_chained_exception_s_secrets_at_the_boundary(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An error whose causes quote the cached token, the API secret and a URL password.
    monkeypatch.setenv("APIMW_API_KEY", "ak_live_123456789")
    monkeypatch.setenv("APIMW_API_SECRET", "plainSecretWithoutPrefix42")
    monkeypatch.setenv("APIMW_API_BASE", "https://user:pa55word@api.example.com/v1")
    state = AppState(transport=_refusing_transport(), sleep=lambda _: None)
    result = CliRunner().invoke(app, ["--debug", "whoami"], obj=state, catch_exceptions=False)
    assert result.exit_code == 6, result.stderr
    assert "Traceback" in result.stderr
    assert "plainSecretWithoutPrefix42" not in result.stderr
    assert "pa55word" not in result.stderr
    assert "https://user:***@api.example.com" in result.stderr


def _refusing_transport() -> httpx.MockTransport:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(
            f"refused {request.url} with body {request.content.decode()}", request=request
        )

    return httpx.MockTransport(refuse)


def test_network_errors_name_the_url_without_its_password() -> None:
    from apimw_cli.api.client import ApiClient

    with (
        ApiClient("https://u:topsecret@127.0.0.1:9/v1", transport=_refusing_transport()) as c,
        pytest.raises(NetworkError) as info,
    ):
        c.request("GET", "auth/me", auth=False)
    assert "topsecret" not in info.value.message
    assert "https://u:***@127.0.0.1:9/v1" in info.value.message


def test_rejected_ngrok_authtoken_is_masked_in_the_debug_traceback(
    running_sandbox: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    failing = make_fake_agent(tmp_path, mode="fail", error_line=ERR_105_LINE)
    monkeypatch.setenv(ENV_NGROK_PATH, str(failing))
    try:
        saved = run("config", "set", "ngrok_authtoken", NGROK)
        assert saved.exit_code == 0, saved.stderr
        result = subprocess.run(
            [sys.executable, "-m", "apimw_cli", "--debug", "--sandbox", "listen", "--tunnel",
             "--port", "0", "--no-record"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        kill_all(failing)
    assert result.returncode == 7, result.stderr
    assert "Traceback" in result.stderr and "ERR_NGROK_105" in result.stderr
    # pyngrok's chained exception quotes the agent's line, which echoes the token.
    assert "The above exception was the direct cause" in result.stderr
    assert NGROK not in result.stderr and NGROK not in result.stdout
    assert f"...{NGROK[-4:]}" in result.stderr


def test_config_show_and_doctor_print_the_api_base_without_its_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("APIMW_API_BASE", "http://u:pw12345678@127.0.0.1:9/v1")
    monkeypatch.setenv("APIMW_API_KEY", "ak_live_123456789")
    monkeypatch.setenv("APIMW_API_SECRET", API_SECRET)
    for args in (("config", "show"), ("-o", "json", "config", "show"), ("doctor",)):
        result = run(*args, sleep=lambda _: None)
        text = result.stdout + result.stderr
        assert "pw12345678" not in text and API_SECRET not in text, args
        assert "http://u:***@127.0.0.1:9/v1" in text, args


@pytest.mark.parametrize("ndjson", [True, False])
def test_listen_notes_are_redacted_in_both_formats(ndjson: bool) -> None:
    from apimw_cli.output.live import LiveView

    out, err = io.StringIO(), io.StringIO()
    view = LiveView(Printer(stdout=out, stderr=err), ndjson=ndjson)
    remember(NGROK)
    view.note(f"re-pointed webhook to https://u:pw12345678@h/x (token {NGROK})")
    view.tunnel("down", f"ngrok said {NGROK}")
    text = out.getvalue() + err.getvalue()
    assert NGROK not in text and "pw12345678" not in text
    assert "https://u:***@h/x" in text


def test_secrets_read_by_any_command_are_remembered(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from apimw_cli.commands.common import secret_from_env, secret_from_file
    from apimw_cli.commands.webhooks.inputs import read_secret

    monkeypatch.setattr(sys, "stdin", io.StringIO("plainHookSecret0001\n"))
    assert read_secret(True, None) == "plainHookSecret0001"
    monkeypatch.setenv("HOOK", "plainHookSecret0002")
    assert secret_from_env("HOOK", "--secret-env") == "plainHookSecret0002"
    (tmp_path / "s").write_text("plainHookSecret0003\nignored\n")
    assert secret_from_file(tmp_path / "s", "--secret-file") == "plainHookSecret0003"
    assert {f"plainHookSecret000{n}" for n in (1, 2, 3)} <= known_secrets()


def test_a_thread_s_uncaught_exception_is_masked(capsys: pytest.CaptureFixture[str]) -> None:
    import threading

    from apimw_cli.main import _thread_crash

    remember(NGROK)
    try:
        raise RuntimeError(f"agent said {NGROK} at https://u:pw12345678@h/")
    except RuntimeError as error:
        args = threading.ExceptHookArgs([type(error), error, error.__traceback__, None])
        _thread_crash(args)
    err = capsys.readouterr().err
    assert "RuntimeError" in err and NGROK not in err and "pw12345678" not in err
