"""`apimw config`: read and change non-secret settings, and see where each value comes from."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from apimw_cli.commands.common import state
from apimw_cli.errors import ApimwError, UsageError
from apimw_cli.output import mask
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
        return mask(str(value))
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


@app.command("set")
def set_(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="Setting name (see `apimw config show`).")
    ],
    value: Annotated[
        str, typer.Argument(metavar="VALUE", help="New value; lists are comma-separated.")
    ],
) -> None:
    """Set a setting in the current profile.

    The value is checked first (an event type, a URL, a number, one of a few choices), with
    the closest valid value suggested for a typo.

    Example: apimw config set output json
    """
    app_state = state(ctx)
    setting = _settable(name)
    parsed = parse_value(setting, value)
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
    app_state.printer.line(str(app_state.settings.config.path))


@app.command("profiles")
def profiles(ctx: typer.Context) -> None:
    """List the profiles in the config file."""
    app_state = state(ctx)
    names = app_state.settings.config.profile_names()

    def human() -> None:
        for name in names:
            app_state.printer.line(name)

    app_state.printer.data(names, human)
