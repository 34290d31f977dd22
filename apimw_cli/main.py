"""The root command: global options, the command groups, and the one error boundary."""

from __future__ import annotations

import difflib
import importlib
import re
import sys
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer  # noqa: TID251 (main.py is typer's other owner: a file has no ruff.toml)
from typer._click.exceptions import (  # noqa: TID251 (the vendored click typer raises)
    BadParameter,
    ClickException,
    NoArgsIsHelpError,
    NoSuchOption,
)
from typer._click.exceptions import UsageError as ClickUsageError  # noqa: TID251

from apimw_cli import __version__
from apimw_cli.commands.params import LeanGroup, make_lean
from apimw_cli.durations import DURATION_HELP, positive_duration

if TYPE_CHECKING:
    from apimw_cli.commands.common import AppState
from apimw_cli.errors import ApimwError, ExitCode
from apimw_cli.settings import (
    DEFAULT_API_BASE,
    DEFAULT_TIMEOUT,
    ENV_API_BASE,
    ENV_NO_COLOR,
    ENV_OUTPUT,
    ENV_PROFILE,
    SANDBOX_API_BASE,
)


def _report(state: AppState | None, error: ApimwError) -> None:
    from apimw_cli.output import Printer

    printer = state.printer if state is not None else Printer()
    printer.error(error.message, error.hint)
    if state is not None and state.debug:
        state.remember_secrets()  # the traceback quotes values: the Printer masks the known
        printer.info(_traceback(error))


def _report_click(obj: Any, error: ClickException) -> None:
    """Click's own errors (unknown option or command, bad or missing value) in apimw's style:
    `error:` and `hint:`, instead of Click's `Error:` under a usage block."""
    from apimw_cli.commands.common import AppState

    if isinstance(error, NoArgsIsHelpError):  # `apimw webhooks`: the group's help, as Click does
        error.show()
        return
    state = obj if isinstance(obj, AppState) else None
    message, hint = _click_message(error)
    _report(state, ApimwError(message, hint=hint))


_CHOICE = re.compile(r"(?P<value>'.*') is not one of (?P<choices>.+?)\.?$", re.DOTALL)
_NO_SUCH_COMMAND = re.compile(r"No such command '(?P<name>.*?)'")
# What a choice option's values are called in its error ("'yaml' is not a format").
_CHOICE_NOUNS = {"output": "format", "format": "format", "shell": "shell"}


def _click_message(error: ClickException) -> tuple[str, str | None]:
    """The message and the hint for one of Click's errors (did-you-mean in the hint)."""
    if not isinstance(error, ClickUsageError):
        return _sentence(error.format_message()), None
    ctx = error.ctx
    see = f"see '{ctx.command_path if ctx is not None else 'apimw'} --help'"
    if isinstance(error, NoSuchOption):
        guesses = sorted(error.possibilities or [])
        guess = f"did you mean {' or '.join(guesses)}? " if guesses else ""
        return f"no such option: {error.option_name}", guess + see
    command = _NO_SUCH_COMMAND.match(error.message)
    if command is not None and ctx is not None:
        name = command["name"]
        known = [n for n in ctx.command.list_commands(ctx) if n]  # type: ignore[attr-defined]
        guesses = difflib.get_close_matches(name, known)
        guess = f"did you mean {' or '.join(map(repr, guesses))}? " if guesses else ""
        return f"no such command {name!r}", guess + see
    if isinstance(error, BadParameter) and error.param is not None:
        detail = error.message.removeprefix("Value error, ")
        choice = _CHOICE.match(detail)
        if choice is not None:
            return _choice_message(error, choice["value"], choice["choices"], see)
        error.message = detail
    return _sentence(error.format_message()), see


def _choice_message(
    error: BadParameter, value: str, listed: str, see: str
) -> tuple[str, str | None]:
    """`--output 'yaml' is not a format: use table or json`, and the closest choice."""
    param = error.param
    assert param is not None
    choices = [c.strip().strip("'") for c in listed.split(",")]
    # An option is named (`--output 'yaml'`); an argument is its value alone (`'tcsh'`).
    named = param.param_type_name == "option" and bool(param.opts)
    name = f"{max(param.opts, key=len)} " if named else ""
    noun = _CHOICE_NOUNS.get(param.name or "", "valid value")
    article = "an" if noun[0] in "aeiou" else "a"
    use = f"{', '.join(choices[:-1])} or {choices[-1]}" if len(choices) > 1 else choices[0]
    guesses = difflib.get_close_matches(value.strip("'").lower(), choices, n=1, cutoff=0.6)
    hint = f"did you mean {guesses[0]!r}? {see}" if guesses else see
    return f"{name}{value} is not {article} {noun}: use {use}", hint


def _sentence(text: str) -> str:
    """Click's "Missing argument 'ID'." as apimw words it: lower case, no final stop."""
    text = text.strip().rstrip(".")
    return text[:1].lower() + text[1:]


def _traceback(error: BaseException) -> str:
    """The traceback of `error` and of its chained causes and contexts. Printed through the
    Printer only, which masks every known and secret-looking value in it."""
    import traceback

    return "".join(traceback.format_exception(error)).rstrip()


def _crash(error: Exception) -> int:
    """A bug: the traceback, masked like everything else on stderr, instead of raw."""
    from apimw_cli.output import Printer

    printer = Printer()
    printer.info(_traceback(error))
    printer.error(
        f"unexpected {type(error).__name__} (a bug in apimw {__version__})",
        hint="please report it with the traceback above (secrets in it are masked)",
    )
    return int(ExitCode.ERROR)


# The commands, loaded only when invoked (or listed for completions): `apimw --help` builds
# none of them. name -> ("module:attribute", the one-line help `apimw --help` shows).
# A test checks that each line here matches the command's own docstring.
COMMANDS: dict[str, tuple[str, str]] = {
    "login": (
        "apimw_cli.commands.auth:login",
        "Save an API key and secret in a profile, after checking them.",
    ),
    "logout": (
        "apimw_cli.commands.auth:logout",
        "Forget a profile's credentials and revoke its cached token.",
    ),
    "whoami": (
        "apimw_cli.commands.auth:whoami",
        "Show who the credentials belong to, and what they may do.",
    ),
    "config": ("apimw_cli.commands.config:app", "Show and change settings (per profile)."),
    "webhooks": (
        "apimw_cli.commands.webhooks:COMMANDS",
        "Register, list, inspect, update and delete webhooks.",
    ),
    "events": (
        "apimw_cli.commands.events:app",
        "The event catalog, and the events `apimw listen` recorded (log, show, replay, inspect).",
    ),
    "listen": (
        "apimw_cli.commands.listen:listen",
        "Receive webhooks on your machine: verify, show, forward and record them.",
    ),
    "doctor": (
        "apimw_cli.commands.doctor:doctor",
        "Check your setup for `apimw listen`: credentials, API, clock, ngrok, server, port, app.",
    ),
    "sign": (
        "apimw_cli.commands.signatures:sign",
        "Print the X-APIMW-Signature value of a body (for curl experiments).",
    ),
    "verify": (
        "apimw_cli.commands.signatures:verify",
        "Check an X-APIMW-Signature against a body, and explain a mismatch.",
    ),
    "trigger": (
        "apimw_cli.commands.trigger:trigger",
        "Send a realistic test event to a URL, or have the sandbox emit it to your webhooks.",
    ),
    "messages": (
        "apimw_cli.commands.messages:app",
        "Send WhatsApp messages and check their status.",
    ),
    "sandbox": (
        "apimw_cli.commands.sandbox:app",
        "Run a local APIMW-compatible API that sends real signed webhooks.",
    ),
    "completion": (
        "apimw_cli.commands.completion:completion",
        "Print the completion script for bash, zsh or fish (redirect it into place).",
    ),
}


def load_command(name: str, table: dict[str, tuple[str, str]] | None = None) -> Any:
    """Import a command's module and build its Click command (`table`: a lazy group's)."""
    target, short_help = (COMMANDS if table is None else table)[name]
    module_name, attribute = target.split(":")
    obj = getattr(importlib.import_module(module_name), attribute)
    lazy: dict[str, tuple[str, str]] | None = None
    if isinstance(obj, dict):  # a group's own table, as COMMANDS (commands/webhooks)
        lazy = obj
        obj = typer.Typer(
            cls=LazyGroup,
            help=short_help,
            no_args_is_help=True,
            rich_markup_mode=None,
            add_completion=False,
        )
        obj.callback()(_group_callback)
    elif not isinstance(obj, typer.Typer):
        single = typer.Typer(rich_markup_mode=None, add_completion=False)
        single.command(name)(obj)
        obj = single
    command = typer.main.get_command(obj)
    command.name = name
    if lazy is not None:
        assert isinstance(command, LazyGroup)
        command.lazy = lazy
    make_lean(command)
    return command


def _group_callback() -> None:
    """A lazy group runs nothing of its own (typer needs a callback for a group with no
    commands registered yet)."""


class LazyGroup(LeanGroup):
    """A group that imports and builds a subcommand only when it is run or its help shown:
    its own help lists the one-line helps of its table. A test checks they match."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy: dict[str, tuple[str, str]] = {}  # name -> ("module:attribute", help line)

    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *(n for n in self.lazy if n not in self.commands)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            self.commands[cmd_name] = load_command(cmd_name, self.lazy)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        rows = [(name, short_help) for name, (_, short_help) in self.lazy.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


class ApimwGroup(LazyGroup):
    """The root group: loads commands lazily, and is the one error boundary.

    ApimwError and Ctrl-C become a short message and their exit code.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = COMMANDS

    def make_context(
        self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any
    ) -> Any:
        # The root's options (typer appends --install-completion after building the group)
        # are processed before any subcommand runs or shows its help.
        make_lean(self)
        try:
            return super().make_context(info_name, args, parent, **extra)
        except ClickException as error:  # the root's own options: -o yaml, --bogus
            if extra.get("resilient_parsing"):  # shell completion: stay silent
                raise
            _report_click(extra.get("obj"), error)
            raise typer.Exit(error.exit_code) from None

    def invoke(self, ctx: Any) -> Any:
        # What follows the group's own options, before invoking consumes it (help: see root).
        ctx.meta["apimw.rest"] = [*getattr(ctx, "_protected_args", ()), *ctx.args]
        try:
            return super().invoke(ctx)
        except ApimwError as error:
            from apimw_cli.commands.common import AppState

            _report(ctx.obj if isinstance(ctx.obj, AppState) else None, error)
            raise typer.Exit(int(error.exit_code)) from None
        except ClickException as error:  # a subcommand's usage error, a callback's BadParameter
            if ctx.resilient_parsing:
                raise
            _report_click(ctx.obj, error)
            raise typer.Exit(error.exit_code) from None
        except KeyboardInterrupt:
            sys.stderr.write("\ninterrupted\n")
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
        except typer.Exit:  # --help, or a command's chosen exit code: no bug, nothing to mask
            raise
        except Exception:
            # A bug: re-raised (tests see it; main() prints it), once the secrets this
            # invocation knows are remembered for the masked traceback.
            from apimw_cli.commands.common import AppState

            if isinstance(ctx.obj, AppState):
                ctx.obj.remember_secrets()
            raise


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


HELP_FLAGS = frozenset({"--help", "-h"})


@app.callback()
def root(
    ctx: typer.Context,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            "-p",
            metavar="NAME",
            help=f"Config profile to use [env: {ENV_PROFILE}].",
        ),
    ] = None,
    api_base: Annotated[
        str | None,
        typer.Option(
            "--api-base",
            metavar="URL",
            help=f"API base URL [env: {ENV_API_BASE}; default: {DEFAULT_API_BASE}].",
        ),
    ] = None,
    output: Annotated[
        OutputChoice | None,
        typer.Option(
            "--output",
            "-o",
            help=f"Output format: table or json [env: {ENV_OUTPUT}].",
            case_sensitive=False,
        ),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            metavar="DURATION",
            parser=positive_duration,
            help=f"API read timeout: {DURATION_HELP} [default: {DEFAULT_TIMEOUT:g}s].",
        ),
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
        bool, typer.Option("--no-color", help=f"No colours (also: {ENV_NO_COLOR}=1).")
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
    from apimw_cli.commands.common import AppState

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
        sleep=previous.sleep,
    )
    # APIMW_OUTPUT=xml: an error naming it, never ignored. Not for `config` (`config show` marks
    # a bad value, to diagnose it), and not when help is asked for: help always works.
    rest = ctx.meta.get("apimw.rest", ())
    if ctx.invoked_subcommand != "config" and not HELP_FLAGS.intersection(rest):
        ctx.obj.check_environment()


def _thread_crash(args: Any) -> None:
    """threading.excepthook: a thread's uncaught exception, masked like the main thread's."""
    if args.exc_type is SystemExit:
        return
    from apimw_cli.output import redact

    name = args.thread.name if args.thread is not None else "a thread"
    text = _traceback(args.exc_value) if args.exc_value is not None else str(args.exc_type)
    sys.stderr.write(redact(f"exception in {name}:\n{text}") + "\n")


def only_help(args: list[str]) -> bool:
    """Will these arguments certainly just print help or the version? (Then no library runs,
    and the log handler, with output/ behind it, need not be imported.) Only when the help flag
    comes last and the word before it cannot be an option taking it as its value
    (`--description --help` sets a description)."""
    if not args:
        return True  # no_args_is_help
    if "--" in args:
        return False
    if args in (["--version"], ["-V"]):
        return True
    return args[-1] in HELP_FLAGS and (len(args) == 1 or not args[-2].startswith("-"))


def main() -> None:
    import threading

    threading.excepthook = _thread_crash
    from apimw_cli.stream_encoding import escape_what_it_cannot_encode

    escape_what_it_cannot_encode(sys.stdout)  # events hold any character; stdout may not
    if not only_help(sys.argv[1:]):
        from apimw_cli.output.logs import install

        install()  # what libraries log reaches stderr masked and escaped
    try:
        app(prog_name="apimw")
    except Exception as error:  # a bug: never a raw traceback, which could quote a secret
        sys.exit(_crash(error))
