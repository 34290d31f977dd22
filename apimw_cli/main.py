"""The root command: global options, the command groups, and the one error boundary."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from apimw_cli import __version__
from apimw_cli.commands import auth, config
from apimw_cli.commands.common import AppState
from apimw_cli.errors import ApimwError, ExitCode
from apimw_cli.settings import DEFAULT_API_BASE, SANDBOX_API_BASE


def _report(state: AppState | None, error: ApimwError) -> None:
    from apimw_cli.output import Printer

    printer = state.printer if state is not None else Printer()
    printer.error(error.message, error.hint)
    if state is not None and state.debug:
        import traceback

        printer.info("".join(traceback.format_exception(error)).rstrip())


class ApimwGroup(TyperGroup):
    """Turns ApimwError and Ctrl-C into a short message and their exit code."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except ApimwError as error:
            _report(ctx.obj if isinstance(ctx.obj, AppState) else None, error)
            raise typer.Exit(int(error.exit_code)) from None
        except KeyboardInterrupt:
            sys.stderr.write("\ninterrupted\n")
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None


app = typer.Typer(
    cls=ApimwGroup,
    name="apimw",
    help="The command-line companion for APIMW webhooks: manage them, listen locally, test, "
    "and try everything offline with the sandbox.",
    no_args_is_help=True,
    # Plain help: rich-formatted help would double the start-up time of `apimw --help`.
    rich_markup_mode=None,
    pretty_exceptions_show_locals=False,  # locals may hold secrets
    context_settings={"help_option_names": ["-h", "--help"]},
)


class OutputChoice(StrEnum):
    table = "table"
    json = "json"


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"apimw {__version__}\n")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    profile: Annotated[
        str | None,
        typer.Option("--profile", "-p", help="Config profile to use [env: APIMW_PROFILE]."),
    ] = None,
    api_base: Annotated[
        str | None,
        typer.Option(
            "--api-base",
            help=f"API base URL [env: APIMW_API_BASE; default: {DEFAULT_API_BASE}].",
        ),
    ] = None,
    output: Annotated[
        OutputChoice | None,
        typer.Option(
            "--output", "-o", help="Output format [env: APIMW_OUTPUT].", case_sensitive=False
        ),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", help="API read timeout in seconds (default 30).", min=0.1),
    ] = None,
    sandbox: Annotated[
        bool,
        typer.Option(
            "--sandbox",
            help=f"Use the local sandbox ({SANDBOX_API_BASE}) and its credentials.",
        ),
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    no_color: Annotated[
        bool, typer.Option("--no-color", help="No colours (also: NO_COLOR=1).")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            callback=_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    if api_base is not None and not api_base.startswith(("http://", "https://")):
        raise typer.BadParameter("must be an http(s) URL", param_hint="--api-base")
    previous = ctx.obj if isinstance(ctx.obj, AppState) else AppState()
    ctx.obj = AppState(
        profile=profile,
        api_base=api_base,
        output=output.value if output is not None else None,
        timeout=timeout,
        debug=debug,
        no_color=no_color,
        sandbox=sandbox,
        transport=previous.transport,
    )


app.add_typer(config.app, name="config")
app.command("login")(auth.login)
app.command("logout")(auth.logout)
app.command("whoami")(auth.whoami)


def main() -> None:
    app(prog_name="apimw")
