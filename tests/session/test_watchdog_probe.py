"""The Watchdog's self-check through the public URL carries the receiver's probe token, so the
session does not report its own checks as events (they were 405 "event" records before)."""

from __future__ import annotations

from typing import Any, cast

import pytest

from apimw_cli.models import Forwarded, Received
from apimw_cli.receiver.events import ReceiverConfig
from apimw_cli.receiver.server import run_in_thread
from apimw_cli.session.watchdog import Watchdog


class StubTunnel:
    """A tunnel that is alive, whose public URL is the receiver itself."""

    def __init__(self, public_url: str) -> None:
        self.public_url = public_url
        self.restarts = 0

    def alive(self) -> bool:
        return True

    def restart(self) -> str:
        self.restarts += 1
        return self.public_url


class StubView:
    def __init__(self) -> None:
        self.lines: list[tuple[str, ...]] = []

    def tunnel(self, state: str, message: str, **fields: Any) -> None:
        self.lines.append(("tunnel", state, message))

    def note(self, message: str, **fields: Any) -> None:
        self.lines.append(("note", message))


def self_check(monkeypatch: pytest.MonkeyPatch, *, pass_token: bool) -> tuple[list[Any], Any]:
    """One Watchdog self-check against a live receiver: (its reports, the stub tunnel)."""
    monkeypatch.setattr(Watchdog, "SELF_CHECK_EVERY", 0.0)
    reports: list[Received | Forwarded] = []
    config = ReceiverConfig(port=0, path="/webhooks", secrets=("x",))
    view = StubView()
    with run_in_thread(config, reports.append) as running:
        tunnel = StubTunnel(running.url.rstrip("/"))
        token = config.probe_token if pass_token else None
        watchdog = Watchdog(cast(Any, tunnel), None, None, "/webhooks", cast(Any, view), token)
        watchdog.check()
    assert view.lines == []  # healthy: nothing to say
    return reports, tunnel


def test_the_self_check_is_not_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    reports, tunnel = self_check(monkeypatch, pass_token=True)
    assert reports == []
    assert tunnel.restarts == 0


def test_without_the_token_the_check_would_be_an_event(monkeypatch: pytest.MonkeyPatch) -> None:
    """The control: what the issue saw (a GET reported as a 405 request)."""
    reports, tunnel = self_check(monkeypatch, pass_token=False)
    assert [(r.method, r.status) for r in reports] == [("GET", 405)]
    assert tunnel.restarts == 0
