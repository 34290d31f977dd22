"""`apimw sandbox`: run the APIMW-compatible local API, and show its credentials."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from apimw_cli.commands.common import (
    AppState,
    duration_option,
    secret_from_file,
    secret_from_stdin,
    state,
)
from apimw_cli.errors import ApimwError, ConfigError, UsageError
from apimw_cli.output import mask
from apimw_cli.settings import (
    ENV_SANDBOX_URL,
    SANDBOX_API_BASE,
    SANDBOX_API_KEY,
    SANDBOX_API_SECRET,
    write_private_file,
)

if TYPE_CHECKING:
    from apimw_cli.sandbox.config import SandboxConfig

app = typer.Typer(rich_markup_mode=None, add_completion=False)

WINDOW_HELP = (
    "Fail texts to customers who have not written in 24 hours (131047), as WhatsApp does;"
    " --no-window delivers every text."
)


ApiSecretEnv = Annotated[
    str | None,
    typer.Option(
        "--api-secret-env",
        metavar="VAR",
        help="Name of an environment variable holding the API secret to accept.",
    ),
]
ApiSecretFile = Annotated[
    Path | None,
    typer.Option(
        "--api-secret-file",
        metavar="FILE",
        help="Accept the API secret in FILE's first line (- reads it from standard input).",
        allow_dash=True,
    ),
]

Port = Annotated[
    int,
    typer.Option(
        "--port", metavar="PORT", help="Port to listen on (0: any free port).", min=0, max=65535
    ),
]
DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        metavar="DIR",
        help="Where to keep the SQLite database [default: the platform's data dir].",
        file_okay=False,
    ),
]
TimeScale = Annotated[
    float,
    typer.Option(
        "--time-scale",
        metavar="FACTOR",
        help="Divide the retry schedule (1m, 5m, 30m, 2h), message status delays and the"
        " 24-hour window by this.",
        min=0.001,
    ),
]
TokenTtl = Annotated[float, duration_option("--token-ttl", "Access token lifetime", default=3600)]
RateLimit = Annotated[
    int,
    typer.Option(
        "--rate-limit", metavar="N", help="Requests per minute per client (0: no limit).", min=0
    ),
]
ReadyFile = Annotated[
    Path | None,
    typer.Option(
        "--ready-file",
        metavar="FILE",
        help="Write the base URL to this file once ready.",
        dir_okay=False,
    ),
]


@app.callback(invoke_without_command=True)
def sandbox(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option("--host", metavar="HOST", help="Address to listen on.")
    ] = "127.0.0.1",
    port: Port = 8787,
    data_dir: DataDir = None,
    ephemeral: Annotated[
        bool, typer.Option("--ephemeral", help="Keep everything in memory; forget it on exit.")
    ] = False,
    reset: Annotated[
        bool, typer.Option("--reset", help="Delete the stored webhooks, events and tokens first.")
    ] = False,
    time_scale: TimeScale = 1.0,
    token_ttl: TokenTtl = 3600.0,
    rate_limit: RateLimit = 300,
    api_key: Annotated[
        str, typer.Option("--api-key", metavar="KEY", help="API key the sandbox accepts.")
    ] = SANDBOX_API_KEY,
    api_secret_env: ApiSecretEnv = None,
    api_secret_file: ApiSecretFile = None,
    demo: Annotated[
        bool,
        typer.Option("--demo", help="Generate steady, realistic traffic (messages, replies)."),
    ] = False,
    window: Annotated[bool, typer.Option("--window/--no-window", help=WINDOW_HELP)] = True,
    ready_file: ReadyFile = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Log events and deliveries, not API requests.")
    ] = False,
) -> None:
    """Run a local APIMW-compatible API that sends real signed webhooks.

    No account or internet needed: webhooks registered here receive real, signed deliveries
    with APIMW's retry schedule. Every other command reaches it with --sandbox. Runs until
    Ctrl-C or SIGTERM.

    Examples:

      apimw sandbox --demo

      apimw sandbox --port 0 --ephemeral --time-scale 60 --ready-file /tmp/apimw.url
    """
    if ctx.invoked_subcommand is not None:
        return
    from apimw_cli.sandbox.config import SandboxConfig

    secret = _accepted_secret(api_secret_env, api_secret_file)
    if ephemeral and (reset or data_dir is not None):
        raise UsageError("--ephemeral keeps nothing on disk: drop --data-dir and --reset")
    config = SandboxConfig(
        host=host,
        port=port,
        data_dir=data_dir,
        ephemeral=ephemeral,
        time_scale=time_scale,
        token_ttl=token_ttl,
        rate_limit=rate_limit,
        api_key=api_key,
        api_secret=secret,
        demo=demo,
        service_window=window,
    )
    _serve(state(ctx), config, ready_file=ready_file, reset=reset, quiet=quiet)


def _accepted_secret(api_secret_env: str | None, api_secret_file: Path | None) -> str:
    """The API secret to accept: the sandbox's own, or the one in --api-secret-env's variable
    or --api-secret-file's file (`-`: standard input)."""
    if api_secret_env is not None and api_secret_file is not None:
        raise UsageError("give the API secret one way: --api-secret-env or --api-secret-file")
    if api_secret_file is not None:
        if str(api_secret_file) == "-":
            return secret_from_stdin("--api-secret-file")
        return secret_from_file(api_secret_file, "--api-secret-file")
    if api_secret_env is None:
        return SANDBOX_API_SECRET
    secret = os.environ.get(api_secret_env, "")
    if not secret:
        raise UsageError(f"--api-secret-env: the variable {api_secret_env} is not set or empty")
    return secret


def _serve(
    app_state: AppState,
    config: SandboxConfig,
    *,
    ready_file: Path | None,
    reset: bool,
    quiet: bool,
) -> None:
    """Listen, announce, serve until Ctrl-C or SIGTERM, then remove the ready file."""
    from apimw_cli.output.sandbox_log import SandboxLog
    from apimw_cli.sandbox.server import base_url, bind, run
    from apimw_cli.server_stack import detect

    printer = app_state.printer
    stack = detect()  # a bad APIMW_SERVER_STACK is one `error:` line before anything listens
    if app_state.debug:
        why = "".join(f"; {reason}" for reason in stack.fallbacks)
        printer.info(f"debug: the sandbox runs on {stack.describe()}{why}")
    db = config.db_path()
    if db is not None:  # before listening: a refusal leaves nothing open
        if reset:
            _reset(db)
        _check_database(db, own_dir=config.data_dir is None)
    try:
        sock = bind(config.host, config.port)
    except OSError as exc:
        raise ApimwError(
            f"cannot listen on {config.host}:{config.port}: {exc.strerror}",
            hint="another sandbox may be running there; pick another --port, or --port 0",
        ) from None
    actual_port = sock.getsockname()[1]
    url = base_url(config.host, actual_port)
    log = SandboxLog(printer, requests=not quiet)

    def ready() -> None:
        if ready_file is not None:
            write_private_file(ready_file, (url + "\n").encode())
        log("ready", {"base_url": url, "api_key": config.api_key, "db": str(db or ":memory:")})

    config = replace(config, port=actual_port, log=log, on_ready=ready)
    if not printer.json:
        _banner(app_state, url, config, db)
    stopped_by = run(config, sock)
    if ready_file is not None:
        ready_file.unlink(missing_ok=True)
    printer.info(f"sandbox stopped{f' ({stopped_by})' if stopped_by else ''}")


def _reset(db: Path) -> None:
    """Delete the database and its -wal and -shm files."""
    for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot delete {path} for --reset: {exc.strerror or exc.__class__.__name__}",
                hint="remove it yourself, or pick another --data-dir",
            ) from None


def _check_database(db: Path, *, own_dir: bool) -> None:
    """The database opens and takes writes, or one `error:` line (exit 3) instead of the
    server's startup traceback."""
    from apimw_cli.sandbox.store import unusable

    problem = unusable(db, own_dir=own_dir)
    if problem is not None:
        raise ConfigError(
            f"cannot use the sandbox database {db}: {problem}",
            hint="pick another --data-dir, start afresh with --reset, or use --ephemeral",
        )


def _banner(app_state: AppState, url: str, config: SandboxConfig, db: Path | None) -> None:
    printer = app_state.printer
    secret, time_scale = config.api_secret, config.time_scale
    scale = f" ÷ {time_scale:g}" if time_scale != 1 else ""
    shown_secret = secret if secret == SANDBOX_API_SECRET else mask(secret)
    use = "apimw --sandbox whoami"
    if url != SANDBOX_API_BASE:
        use = f"{ENV_SANDBOX_URL}={url} apimw --sandbox whoami"
    printer.fields(
        {
            "API": url,
            "API key": config.api_key,
            "API secret": shown_secret,
            "data": str(db) if db is not None else "in memory (--ephemeral)",
            "retries": "1m, 5m, 30m, 2h" + scale,
            "texts": (
                f"only within 24 h{scale} of the customer's last message (--no-window: always)"
                if config.service_window
                else "always delivered (--no-window)"
            ),
            "traffic": (
                "demo: a message every few seconds" if config.demo else "POST /v1/sandbox/events"
            ),
            "try": use,
        },
        title="APIMW sandbox",
    )
    printer.info("Press Ctrl-C to stop.")


@app.command("credentials")
def credentials(ctx: typer.Context) -> None:
    """Print the sandbox's fixed address, API key and secret."""
    printer = state(ctx).printer
    data = {
        "api_base": SANDBOX_API_BASE,
        "api_key": SANDBOX_API_KEY,
        "api_secret": SANDBOX_API_SECRET,
    }

    def human() -> None:
        printer.fields(data)

    printer.data(data, human)
