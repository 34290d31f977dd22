"""`apimw config`: read and change non-secret settings, and see where each value comes from."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from apimw_cli.commands.common import state
from apimw_cli.errors import ApimwError, UsageError
from apimw_cli.settings import SETTINGS, Setting, lookup, parse_value

app = typer.Typer(
    help="Show and change settings (per profile).",
    no_args_is_help=True,
    rich_markup_mode=None,
    add_completion=False,
)


def _settable(name: str) -> Setting:
    setting = lookup(name)
    if not setting.settable:
        raise UsageError(
            f"{name} is not set with `apimw config`",
            hint="use `apimw login` for the API key and secret, or the environment",
        )
    return setting


def _display(setting: Setting, value: Any, reveal: bool = False) -> Any:
    if value is None:
        return None
    if setting.secret and not reveal:
        from apimw_cli.output import mask

        return mask(str(value))
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


# A value is one line; more than this from stdin or a file is not a setting.
_MAX_VALUE_BYTES = 64 * 1024


def _value_from_stdin(setting: Setting) -> str:
    """The value from standard input: asked without echo at a terminal, else read (one line)."""
    import sys

    if sys.stdin.isatty():
        import getpass

        return getpass.getpass(f"{setting.name} (not echoed): ", stream=sys.stderr)
    raw = sys.stdin.buffer.read(_MAX_VALUE_BYTES + 1)
    return _one_value(raw, "standard input", setting)


def _value_from_file(path: Path, setting: Setting) -> str:
    try:
        with path.open("rb") as file:
            raw = file.read(_MAX_VALUE_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"--from-file: cannot read {path}: {exc.strerror or exc}") from None
    return _one_value(raw, str(path), setting)


def _one_value(raw: bytes, where: str, setting: Setting) -> str:
    """The value in `raw`: one line of UTF-8 text, its line ending removed."""
    if len(raw) > _MAX_VALUE_BYTES:
        raise UsageError(f"{where} holds more than {_MAX_VALUE_BYTES // 1024} KB: not a value")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{where} is not UTF-8 text") from None
    text = text.removesuffix("\n").removesuffix("\r")
    if not text.strip():
        raise UsageError(f"{where} holds no value for {setting.name}")
    return text


def _given_value(setting: Setting, value: str | None, from_file: Path | None) -> str:
    if from_file is not None:
        if value is not None:
            raise UsageError("give the value or --from-file, not both")
        return _value_from_file(from_file, setting)
    if value is None:
        raise UsageError(
            f"no value given for {setting.name}",
            hint=f"`apimw config set {setting.name} -` reads it from standard input",
        )
    if value == "-":
        return _value_from_stdin(setting)
    return value


@app.command("set")
def set_(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="Setting name (see `apimw config show`).")
    ],
    value: Annotated[
        str | None,
        typer.Argument(
            metavar="VALUE",
            help="New value; lists are comma-separated; - reads it from standard input "
            "(not echoed at a terminal).",
            show_default=False,
        ),
    ] = None,
    from_file: Annotated[
        Path | None,
        typer.Option("--from-file", metavar="PATH", help="Read the value from a file (one line)."),
    ] = None,
) -> None:
    """Set a setting in the current profile.

    The value is checked first (an event type, a URL, a number, one of a few choices), with
    the closest valid value suggested for a typo. For a secret, `-` (standard input) or
    --from-file keeps it out of your shell history.

    Examples:

      apimw config set output json

      printf '%s' "$NGROK_AUTHTOKEN" | apimw config set ngrok_authtoken -
    """
    app_state = state(ctx)
    setting = _settable(name)
    raw = _given_value(setting, value, from_file)
    if setting.secret and value not in (None, "-"):
        app_state.printer.warn(
            f"a secret on the command line ends up in your shell history and `ps`: "
            f"next time, `apimw config set {setting.name} -` reads it from standard input"
        )
    parsed = parse_value(setting, raw)
    settings = app_state.settings
    settings.config.update_profile(settings.profile, **{setting.name: parsed})
    app_state.printer.success(
        f"{setting.name} = {_display(setting, parsed)} in profile {settings.profile!r}"
    )


@app.command("get")
def get(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="Setting name.")],
    reveal: Annotated[
        bool, typer.Option("--reveal", help="Print a secret setting unmasked.")
    ] = False,
) -> None:
    """Print the value in force for one setting."""
    app_state = state(ctx)
    setting = lookup(name)
    resolved = app_state.settings.resolve(setting.name)
    shown = _display(setting, resolved.value, reveal)
    if app_state.printer.json:
        app_state.printer.data({"name": setting.name, "value": shown, "source": resolved.source})
    else:
        app_state.printer.line("" if shown is None else str(shown))


@app.command("unset")
def unset(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="Setting name.")],
) -> None:
    """Remove a setting from the current profile."""
    app_state = state(ctx)
    setting = _settable(name)
    settings = app_state.settings
    settings.config.update_profile(settings.profile, **{setting.name: None})
    app_state.printer.success(f"{setting.name} unset in profile {settings.profile!r}")


@app.command("show")
def show(ctx: typer.Context) -> None:
    """Show every setting in force and where it came from."""
    app_state = state(ctx)
    settings = app_state.settings
    printer = app_state.printer
    settings.config.profile_names()  # a broken file is an error of its own, not of each row
    rows: list[dict[str, Any]] = []
    for setting in SETTINGS:
        try:
            resolved = settings.resolve(setting.name)
            value, source = _display(setting, resolved.value), resolved.source
        except ApimwError as exc:
            value, source = None, f"error: {exc.message}"
        rows.append({"name": setting.name, "value": value, "source": source})
    data = {
        "profile": settings.profile,
        "profile_source": settings.profile_source,
        "config_file": str(settings.config.path),
        "settings": rows,
    }

    def human() -> None:
        printer.info(
            f"profile {settings.profile!r} ({settings.profile_source}), "
            f"config file {settings.config.path}"
        )
        printer.table(
            ["setting", "value", "source"],
            [[r["name"], "" if r["value"] is None else r["value"], r["source"]] for r in rows],
        )

    printer.data(data, human)


@app.command("path")
def path(ctx: typer.Context) -> None:
    """Print the config file's path."""
    app_state = state(ctx)
    where = str(app_state.settings.config.path)
    app_state.printer.data({"path": where}, lambda: app_state.printer.line(where))


@app.command("profiles")
def profiles(ctx: typer.Context) -> None:
    """List the profiles in the config file."""
    app_state = state(ctx)
    names = app_state.settings.config.profile_names()

    def human() -> None:
        for name in names:
            app_state.printer.line(name)

    app_state.printer.data(names, human)
