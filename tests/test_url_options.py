"""URL options (--to, --forward-to) are checked up front: a clear usage error, not a traceback
from the HTTP client halfway through a batch."""

from __future__ import annotations

import pytest

from apimw_cli.commands.common import check_http_url
from apimw_cli.errors import UsageError
from tests.support.cli import run


@pytest.mark.parametrize(
    "url",
    ["http://", "https://", "ftp://x/", "localhost:3000", "http://a b/", "http://x:0/",
     "http://x:99999/", "http://x:port/", "http://[::1/", "http://x/\x1b[2J", ""],
)  # fmt: skip
def test_a_url_that_cannot_take_events_is_a_usage_error(url: str) -> None:
    with pytest.raises(UsageError):
        check_http_url(url, "--to")


@pytest.mark.parametrize(
    "url", ["http://localhost:3000/webhooks", "https://[::1]:8443/h?x=1", "http://127.0.0.1/"]
)
def test_a_usable_url_passes(url: str) -> None:
    check_http_url(url, "--to")


@pytest.mark.parametrize(
    "args",
    [
        ["events", "replay", "--to", "http://"],
        ["trigger", "message.sent", "--to", "http://", "--secret", "whsec_x"],
        ["listen", "--no-tunnel", "--skip-verify", "--forward-to", "http://:80/"],
    ],
)
def test_commands_refuse_it_with_exit_2(args: list[str]) -> None:
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert "is not an http(s) URL" in result.output
    assert "Traceback" not in result.output
