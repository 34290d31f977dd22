"""The ERR_NGROK table (apimw_cli/tunnel/ngrok_errors.py): each documented code becomes a
TunnelError (exit code 7) that names the code and never shows the authtoken."""

from __future__ import annotations

from pathlib import Path

import pytest

from apimw_cli.errors import ExitCode
from apimw_cli.tunnel.ngrok_errors import KNOWN_ERRORS, error_code, known_error
from apimw_cli.tunnel.settings import TunnelSettings
from tests.tunnel.conftest import AUTHTOKEN

CODES = [code for row in KNOWN_ERRORS for code in row.codes]


def settings(domain: str | None = None, source: str | None = None) -> TunnelSettings:
    return TunnelSettings(
        authtoken=AUTHTOKEN,
        ngrok_path=None,
        region=None,
        config_dir=Path("/nowhere"),
        domain=domain,
        authtoken_source=source,
    )


def test_the_table_covers_the_codes_apimw_explains() -> None:
    numbers = [4018, 105, 106, 107, 108, 319, 320, 7117, 7118, 334, 120, 121]
    assert sorted(CODES) == sorted(f"ERR_NGROK_{number}" for number in numbers)
    assert len(set(CODES)) == len(CODES), "a code in two rows"


@pytest.mark.parametrize("code", CODES)
def test_each_row_is_a_tunnel_error_naming_its_code(code: str) -> None:
    error = known_error(code, settings("mine.ngrok.app", "profile 'default'"))

    assert error is not None
    assert error.exit_code == ExitCode.TUNNEL
    assert error.message.endswith(f"({code})")
    assert error.hint
    assert AUTHTOKEN not in f"{error.message}\n{error.hint}"


def test_unknown_or_missing_code_is_not_in_the_table() -> None:
    assert known_error("ERR_NGROK_9999", settings()) is None
    assert known_error(None, settings()) is None


def test_rejected_authtoken_names_the_masked_token_and_its_source() -> None:
    error = known_error("ERR_NGROK_107", settings(source="env NGROK_AUTHTOKEN"))

    assert error is not None
    assert error.message == (
        f"ngrok rejected the authtoken ...{AUTHTOKEN[-4:]} (from env NGROK_AUTHTOKEN) "
        "(ERR_NGROK_107)"
    )


def test_domain_rows_name_the_domain_or_say_there_is_none() -> None:
    with_domain = known_error("ERR_NGROK_334", settings("mine.ngrok.app"))
    without = known_error("ERR_NGROK_334", settings())
    unreserved = known_error("ERR_NGROK_320", settings())

    assert with_domain is not None and without is not None and unreserved is not None
    assert with_domain.message.startswith("https://mine.ngrok.app is already online")
    assert without.message.startswith("this URL is already online")
    assert unreserved.message.startswith("the domain (none) is not reserved")


def test_the_first_code_found_wins() -> None:
    assert error_code(None, "no code", "a ERR_NGROK_108 b", "ERR_NGROK_105") == "ERR_NGROK_108"
    assert error_code("", None) is None
