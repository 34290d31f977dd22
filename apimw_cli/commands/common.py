"""What every command shares: the global options' state, and ready-made collaborators."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import typer

from apimw_cli.output import Printer
from apimw_cli.settings import Settings

if TYPE_CHECKING:
    from apimw_cli.api.client import ApiClient
    from apimw_cli.settings import Credentials


@dataclass
class AppState:
    """The root command's options; commands reach it as `ctx.obj`."""

    profile: str | None = None
    api_base: str | None = None
    output: str | None = None
    timeout: float | None = None
    debug: bool = False
    no_color: bool = False
    sandbox: bool = False
    # Only for tests: an httpx transport to use instead of the network.
    transport: Any = field(default=None, repr=False)
    # Only for tests: how the API client waits before a retry (a no-op skips the backoff).
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    @cached_property
    def settings(self) -> Settings:
        return Settings(
            profile=self.profile,
            flags={"api_base": self.api_base, "output": self.output, "timeout": self.timeout},
            sandbox=self.sandbox,
        )

    @cached_property
    def printer(self) -> Printer:
        output = self.output or (self.settings.output if self._settings_loadable() else "table")
        return Printer(output=output, no_color=self.no_color)

    def _settings_loadable(self) -> bool:
        # The printer must work even when the config file is broken: it reports that error.
        from apimw_cli.errors import ApimwError

        try:
            _ = self.settings.output
        except ApimwError:
            return False
        return True

    def _debug_note(self, message: str) -> None:
        self.printer.info(f"debug: {message}")

    def use_sandbox(self, api_base: str | None = None) -> None:
        """Switch this invocation to the sandbox (`listen --sandbox` = `--sandbox listen`)."""
        self.sandbox = True
        if api_base is not None:
            self.api_base = api_base
        self.__dict__.pop("settings", None)  # resolve again, with the sandbox's address

    def client(self, *, auth: bool = True, credentials: Credentials | None = None) -> ApiClient:
        """An API client for the resolved base URL: authenticated with `credentials` (by
        default the settings' ones), or anonymous when `auth` is False."""
        from apimw_cli.api.auth import authenticated_client

        settings = self.settings
        _ = settings.api_base  # a bad address is reported before missing credentials
        timeout = float(settings.get("timeout"))
        notify = self.printer.warn
        if auth and credentials is None:
            credentials = settings.credentials()
        return authenticated_client(
            settings,
            credentials if auth else None,
            # A refused cached token is renewed silently; --debug tells (never a secret).
            note=self._debug_note if self.debug else None,
            timeout=timeout,
            transport=self.transport,
            notify=notify,
            sleep=self.sleep,
        )


def state(ctx: typer.Context) -> AppState:
    """The AppState of this invocation (created on demand for commands run on their own)."""
    root = ctx.find_root()
    if not isinstance(root.obj, AppState):
        root.obj = AppState()
    return root.obj


def secret_from_env(variable: str, option: str) -> str:
    """A secret from the environment (safer than a flag: flags end up in shell history)."""
    import os

    from apimw_cli.errors import UsageError

    secret = os.environ.get(variable, "").strip()
    if not secret:
        raise UsageError(f"{option}: the variable {variable} is not set or empty")
    return secret


def check_http_url(value: str, option: str) -> None:
    """A usage error unless `value` is an http(s) URL with a host (where events can go)."""
    from apimw_cli.errors import UsageError
    from apimw_cli.settings import is_http_url

    if is_http_url(value):
        return
    if any(c.isspace() or ord(c) < 0x20 or c == "\x7f" for c in value):
        raise UsageError(f"{option} {value!r}: a URL cannot contain spaces or control characters")
    raise UsageError(
        f"{option} {value!r} is not an http(s) URL",
        hint="for example http://localhost:3000/webhooks",
    )


def interactive() -> bool:
    """May we prompt? Only with a person at both ends."""
    return sys.stdin.isatty() and sys.stderr.isatty()
