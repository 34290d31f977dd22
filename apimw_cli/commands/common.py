"""What every command shares: the global options' state, and ready-made collaborators."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from apimw_cli import durations

if TYPE_CHECKING:
    from apimw_cli.api.client import ApiClient
    from apimw_cli.output import Printer
    from apimw_cli.settings import Credentials, Settings


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
        from apimw_cli.settings import Settings

        return Settings(
            profile=self.profile,
            flags={"api_base": self.api_base, "output": self.output, "timeout": self.timeout},
            sandbox=self.sandbox,
        )

    @cached_property
    def printer(self) -> Printer:
        from apimw_cli.output import Printer

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

    def check_environment(self) -> None:
        """Check every setting given in the environment now, so that a bad value (APIMW_OUTPUT=xml,
        APIMW_TIMEOUT=soon) is an error naming its variable (exit 3) for every command, never a
        silent fallback; a flag that overrides the variable wins, as everywhere."""
        from apimw_cli.settings import SETTINGS

        settings = self.settings
        for setting in SETTINGS:
            if setting.env and settings.env.get(setting.env):
                settings.resolve(setting.name)  # raises ConfigError naming the variable
        if self.output is None:
            # A format the profile cannot have (edited by hand) is an error too, not a table.
            from apimw_cli.errors import ApimwError

            try:
                stored = settings.resolve("output")
            except ApimwError:
                return  # a broken config file: the command that reads it reports it
            if stored.value not in (None, "table", "json"):
                _ = settings.output  # raises ConfigError naming the profile

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
        if credentials is not None:
            remember(credentials.api_secret, credentials.token)
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

    def remember_secrets(self) -> None:
        """Remember (for masking) every secret this invocation may quote: the secret settings,
        the cached tokens and listen's signing secrets. Read-only; never raises."""
        from apimw_cli.settings import SETTINGS

        try:
            settings = self.settings
            for setting in SETTINGS:
                if setting.secret:
                    remember(_text(settings, setting.name))
            remember(*stored_secrets(settings.config_dir))
        except Exception:  # noqa: S110 (a broken config must not hide the error being shown)
            pass


def remember(*secrets: str | None) -> None:
    """Mask these values in everything printed from now on (output.remember, imported once a
    command has a secret: help and the command modules import no output/)."""
    from apimw_cli.output import remember as remember_for_masking

    remember_for_masking(*secrets)


def _text(settings: Settings, name: str) -> str | None:
    from apimw_cli.errors import ApimwError

    try:
        value = settings.get(name)
    except ApimwError:
        return None
    return str(value) if value else None


def stored_secrets(config_dir: Path) -> list[str]:
    """The tokens in the token cache and listen's signing secrets, as stored under config_dir."""
    import json

    found: list[str] = []
    for path in sorted((config_dir / "tokens").glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            found += [str(v) for k, v in data.items() if k.endswith("_token") and v]
    for path in sorted((config_dir / "secrets").glob("*.secret")):
        try:
            found.append(path.read_text(encoding="utf-8").strip())
        except (OSError, ValueError):
            continue
    return found


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
    remember(secret)
    return secret


MAX_SECRET_FILE = 64 * 1024


def secret_from_file(path: Path, option: str) -> str:
    """A secret from a file: its first line, without the line break (as `echo` wrote it)."""
    from apimw_cli.errors import UsageError

    try:
        with path.open("rb") as file:  # bounded: FILE may be /dev/zero, or a pipe (<(...))
            raw = file.read(MAX_SECRET_FILE + 1)
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = getattr(exc, "strerror", None) or str(exc)
        raise UsageError(f"{option} {path}: cannot read it: {why}") from None
    if len(raw) > MAX_SECRET_FILE:
        raise UsageError(f"{option} {path}: over {MAX_SECRET_FILE} bytes, not a secret")
    lines = text.strip().splitlines()
    if not lines:
        raise UsageError(f"{option} {path} is empty")
    remember(lines[0].strip())
    return lines[0].strip()


def secret_from_stdin(option: str) -> str:
    """A secret from standard input (`OPTION -`): typed without echo on a terminal, else the
    first line piped in."""
    from apimw_cli.errors import UsageError

    if sys.stdin.isatty():
        import getpass

        secret = getpass.getpass(f"{option} (hidden): ").strip()
    else:
        secret = sys.stdin.readline().strip()
    if not secret:
        raise UsageError(f"{option} -: standard input gave no secret")
    remember(secret)
    return secret


@dataclass(frozen=True)
class SecretOptions:
    """How one command names its secret options: VALUE (`-`: stdin), $VAR, FILE."""

    value: str = "--secret"
    env: str = "--secret-env"
    file: str = "--secret-file"

    def safer(self) -> str:
        return f"{self.file} FILE, {self.env} VAR, or {self.value} - (standard input)"

    def warning(self) -> str:
        """The one-line warning for a secret given on the command line."""
        return (
            f"{self.value} on the command line shows in `ps` and your shell history; "
            f"safer: {self.safer()}"
        )


# `events replay` and `events inspect`: the secret that signs a recorded event again.
RESIGN = SecretOptions(value="--resign", env="--resign-env", file="--resign-file")


def secret_options(names: SecretOptions, what: str) -> tuple[Any, Any, Any]:
    """The three options `names` declares (VALUE, $VAR, FILE), helped as "`what` with ...":
    one declaration for the commands that take the same secret."""
    return (
        typer.Option(
            names.value,
            metavar="SECRET",
            help=f"{what} with this secret (- reads it from standard input).",
        ),
        typer.Option(names.env, metavar="VAR", help=f"{what} with the secret in $VAR."),
        typer.Option(
            names.file,
            metavar="FILE",
            help=f"{what} with the secret in FILE's first line.",
            dir_okay=False,
        ),
    )


def read_secrets(
    names: SecretOptions,
    warn: Callable[[str], None],
    values: list[str] | tuple[str, ...] = (),
    env_vars: list[str] | tuple[str, ...] = (),
    files: list[Path] | tuple[Path, ...] = (),
) -> list[str]:
    """Every secret given, in the order values, variables, files; `-` reads standard input
    (once). Values typed on the command line get the warning (once)."""
    from apimw_cli.errors import UsageError

    if sum(v == "-" for v in values) > 1:
        raise UsageError(f"only one {names.value} may be - (standard input)")
    if any(v != "-" for v in values):
        warn(names.warning())
    found = [secret_from_stdin(names.value) if v == "-" else v for v in values]
    remember(*found)
    found += [secret_from_env(var, names.env) for var in env_vars]
    found += [secret_from_file(path, names.file) for path in files]
    if any(not s.strip() for s in found):
        raise UsageError(f"{names.value}: a secret cannot be empty")
    return found


def read_secret(
    names: SecretOptions,
    warn: Callable[[str], None],
    value: str | None,
    env_var: str | None,
    file: Path | None,
) -> str | None:
    """The secret given one way of three (VALUE or `-`, $VAR, FILE), or None."""
    from apimw_cli.errors import UsageError

    given = [n for n, v in ((names.value, value), (names.env, env_var), (names.file, file)) if v]
    if len(given) > 1:
        raise UsageError(f"give the secret one way: {' or '.join(given)}")
    found = read_secrets(
        names,
        warn,
        [value] if value is not None else [],
        [env_var] if env_var else [],
        [file] if file else [],
    )
    return found[0] if found else None


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


def duration_option(
    name: str, what: str, *, zero: bool = False, default: float | None = None
) -> Any:
    """An option that takes a time: a duration (`30s`, `2m`) everywhere, a bare number being
    seconds, so that `--timeout` means one thing across commands. `zero`: 0 is allowed;
    `default` (seconds) is shown as a duration."""
    shown = f"  [default: {durations.format_duration(default)}]" if default is not None else ""
    return typer.Option(
        name,
        metavar="DURATION",
        parser=durations.duration if zero else durations.positive_duration,
        help=f"{what}: {durations.DURATION_HELP}.{shown}",
        show_default=False,  # typer would show 30.0, or (30s)
    )
