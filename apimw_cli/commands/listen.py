"""`apimw listen`: receive webhooks locally, verify them, show them live, forward, record.

The command line only: the options are declared here, parsed and checked into a
`ListenOptions`, and run by a `ListenSession` (session/run.py: the sandbox, the receiver, the
tunnel, the webhook, the live view, the clean-up). What the session returns is rendered here:
the summary, how to replay failed forwards, the `--report` file and the exit code.
"""

from __future__ import annotations

import os
import shlex
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from apimw_cli import catalog
from apimw_cli.commands.common import (
    AppState,
    SecretOptions,
    check_http_url,
    duration_option,
    read_secret,
    remember,
    state,
)
from apimw_cli.errors import ApimwError, UsageError
from apimw_cli.receiver.events import ReceiverConfig, Respond
from apimw_cli.session import inspection
from apimw_cli.session import secret as listen_secret
from apimw_cli.session.matching import matching
from apimw_cli.session.options import Inspect, ListenOptions

if TYPE_CHECKING:
    from apimw_cli.output.live import LiveView
    from apimw_cli.session.run import SessionResult

# --- the options, in the order --help lists them ------------------------------------------------
# Where events go, and which.
ForwardToOption = Annotated[
    list[str] | None,
    typer.Option(
        "--forward-to",
        "-f",
        metavar="URL",
        help="Your app's URL; events are POSTed there (repeatable).",
    ),
]
EventsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--events",
        "-e",
        metavar="TYPES",
        help="Event types to subscribe to, show and forward; globs work "
        "[default: the default_events setting, else all].",
    ),
]
# Where events come from: the sandbox, or APIMW through the ngrok tunnel.
SandboxOption = Annotated[
    bool, typer.Option("--sandbox", help="Use the local sandbox (started here if needed).")
]
DemoOption = Annotated[
    bool, typer.Option("--demo", help="With --sandbox: generate realistic traffic.")
]
NoTunnelOption = Annotated[
    bool,
    typer.Option("--no-tunnel", help="Local receiver only (behind your own tunnel or proxy)."),
]
TunnelOption = Annotated[
    bool, typer.Option("--tunnel", help="Open the ngrok tunnel even with --sandbox.")
]
DomainOption = Annotated[
    str | None,
    typer.Option("--domain", metavar="DOMAIN", help="Your reserved ngrok domain (a stable URL)."),
]
WebhookRefOption = Annotated[
    str | None,
    typer.Option(
        "--webhook",
        metavar="ID",
        help="Point this existing webhook at the tunnel for the session (restored on exit).",
    ),
]
KeepStaleOption = Annotated[
    bool,
    typer.Option("--keep-stale", help="Leave temporary webhooks of crashed sessions alone."),
]
# The receiver: where it listens, how it verifies and what it answers.
HostOption = Annotated[str, typer.Option("--host", metavar="HOST", help="Address to listen on.")]
PortOption = Annotated[
    int,
    typer.Option(
        "--port", metavar="PORT", help="Port to listen on (0: any free port).", min=0, max=65535
    ),
]
PathOption = Annotated[
    str | None,
    typer.Option(
        "--path",
        metavar="PATH",
        help=(
            "Only accept this path (default: any path). When listen registers a temporary "
            "webhook (--sandbox, --tunnel), it registers PATH/apimw-listen-<session> (default "
            "/webhooks/apimw-listen-<session>) and accepts only that: the marker is how a "
            "crashed session's webhook is found later."
        ),
    ),
]
SecretOption = Annotated[
    str | None,
    typer.Option(
        "--secret",
        metavar="SECRET",
        help="Signing secret to verify with; - reads it from standard input (prefer "
        "--secret-file or --secret-env: a value here shows in `ps`).",
    ),
]
SecretEnvOption = Annotated[
    str | None,
    typer.Option("--secret-env", metavar="VAR", help="Take the signing secret from $VAR."),
]
SecretFileOption = Annotated[
    Path | None,
    typer.Option(
        "--secret-file",
        metavar="FILE",
        help="Take the signing secret from FILE's first line.",
        dir_okay=False,
    ),
]
SkipVerifyOption = Annotated[
    bool, typer.Option("--skip-verify", help="Do not check signatures (prints a warning).")
]
RespondOption = Annotated[
    str,
    typer.Option(
        "--respond",
        metavar="<ack|passthrough|CODE>",
        help="What APIMW gets: ack (200 at once), passthrough (your app's status), or a code.",
    ),
]
DelayOption = Annotated[
    float, duration_option("--delay", "Wait before answering", zero=True, default=0)
]
FailRateOption = Annotated[
    float,
    typer.Option("--fail-rate", metavar="RATE", help="Share answered 500 (0-1).", min=0, max=1),
]
MaxBodyOption = Annotated[
    int,
    typer.Option("--max-body", metavar="BYTES", help="Largest body accepted (else 413).", min=1),
]
ForwardTimeoutOption = Annotated[
    float, duration_option("--forward-timeout", "How long your app has to answer", default=30)
]
ConcurrencyOption = Annotated[
    int, typer.Option("--concurrency", metavar="N", help="Forwards at once (1: in order).", min=1)
]
# What listen shows and writes.
VerboseOption = Annotated[
    bool, typer.Option("--verbose", "-v", help="Show bodies and your app's answers.")
]


OutputFormat = StrEnum("OutputFormat", ["pretty", "ndjson"])
OutputFormatOption = Annotated[
    OutputFormat, typer.Option("--format", help="pretty, or ndjson (one JSON record a line).")
]
RecordOption = Annotated[
    Path | None,
    typer.Option(
        "--record", metavar="FILE", dir_okay=False, help="Session log [default: data dir]."
    ),
]
NoRecordOption = Annotated[bool, typer.Option("--no-record", help="Do not record events.")]
InspectPortOption = Annotated[
    int | None,
    typer.Option(
        "--inspect-port",
        metavar="PORT",
        help="The inspector page's port on 127.0.0.1 (0: any free) [default: 4040 or the next].",
        min=0,
        max=65535,
    ),
]
NoInspectOption = Annotated[
    bool, typer.Option("--no-inspect", help="Do not serve the inspector page.")
]
ReadyFileOption = Annotated[
    Path | None,
    typer.Option(
        "--ready-file", metavar="FILE", dir_okay=False, help="Write the URL here once ready."
    ),
]
# CI: wait for events, then exit 0 or not.
ExpectOption = Annotated[
    list[str] | None,
    typer.Option("--expect", metavar="TYPE[:COUNT]", help="Exit 0 once these arrived (CI)."),
]
WhereOption = Annotated[
    list[str] | None,
    typer.Option(
        "--where",
        metavar="PATH=VALUE",
        help="Count only --expect events with VALUE (as text) at PATH in the JSON body, e.g. "
        "data.message_id=wamid.X; repeat to require all; @FILE reads VALUE from FILE.",
    ),
]
ExpectMessageOption = Annotated[
    str | None,
    typer.Option(
        "--expect-message",
        metavar="ID",
        help="Exit 0 once a message.* event about message ID arrived (--expect 'message.*' "
        "--where data.message_id=ID); @FILE reads ID from FILE once written.",
    ),
]
TimeoutOption = Annotated[float | None, duration_option("--timeout", "Give up after this long")]
ReportOption = Annotated[
    Path | None,
    typer.Option("--report", metavar="FILE", dir_okay=False, help="Write a JSON report here."),
]
# The stable signing secret.
PrintSecretOption = Annotated[
    bool,
    typer.Option(
        "--print-secret",
        help="Print the signing secret listen's webhooks use (stable per profile) and exit.",
    ),
]
RotateSecretOption = Annotated[
    bool,
    typer.Option("--rotate-secret", help="Replace that secret with a new one, print it, exit."),
]


def listen(
    ctx: typer.Context,
    forward_to: ForwardToOption = None,
    events: EventsOption = None,
    sandbox: SandboxOption = False,
    demo: DemoOption = False,
    no_tunnel: NoTunnelOption = False,
    tunnel: TunnelOption = False,
    domain: DomainOption = None,
    webhook_ref: WebhookRefOption = None,
    keep_stale: KeepStaleOption = False,
    host: HostOption = "127.0.0.1",
    port: PortOption = 4242,
    path: PathOption = None,
    secret: SecretOption = None,
    secret_env: SecretEnvOption = None,
    secret_file: SecretFileOption = None,
    skip_verify: SkipVerifyOption = False,
    respond: RespondOption = "ack",
    delay: DelayOption = 0.0,
    fail_rate: FailRateOption = 0.0,
    max_body: MaxBodyOption = 1_000_000,
    forward_timeout: ForwardTimeoutOption = 30.0,
    concurrency: ConcurrencyOption = 1,
    verbose: VerboseOption = False,
    output_format: OutputFormatOption = OutputFormat.pretty,
    record: RecordOption = None,
    no_record: NoRecordOption = False,
    inspect_port: InspectPortOption = None,
    no_inspect: NoInspectOption = False,
    ready_file: ReadyFileOption = None,
    expect: ExpectOption = None,
    where: WhereOption = None,
    expect_message: ExpectMessageOption = None,
    timeout: TimeoutOption = None,
    report: ReportOption = None,
    print_secret: PrintSecretOption = False,
    rotate_secret: RotateSecretOption = False,
) -> None:
    """Receive webhooks on your machine: verify, show, forward and record them.

    Examples:

      apimw listen --sandbox --demo

      apimw listen --sandbox --forward-to http://localhost:3000/webhooks

      apimw --sandbox listen --expect message.read --where data.message_id=wamid.X --timeout 30s
    """
    app_state = state(ctx)
    if sandbox:
        app_state.use_sandbox()
    if print_secret or rotate_secret:
        listen_secret.show(app_state.settings, app_state.printer, new=rotate_secret)
        return
    use_tunnel = _use_tunnel(app_state, demo=demo, tunnel=tunnel, no_tunnel=no_tunnel)
    _check_tunnel_options(use_tunnel, webhook_ref=webhook_ref, domain=domain)
    respond_mode, status = parse_respond(respond)
    expectations, conditions = matching(expect or [], where or [], expect_message)
    patterns, subscribe = _event_types(app_state, events or [])
    needs_secret = bool(no_tunnel or webhook_ref) and not skip_verify
    given_secret = _given_secret(app_state, (secret, secret_env, secret_file), needed=needs_secret)
    _check_receiver(host, port, forward_to or [], (inspect_port, no_inspect, no_record), record)
    the_secret, stable = _session_secret(app_state, given_secret, use_tunnel, webhook_ref)
    hint = listen_secret.signature_hint(app_state.sandbox, stable, secret_env, secret_file)
    options = ListenOptions(
        receiver=ReceiverConfig(
            host=host,
            port=port,
            path=path,
            secrets=(the_secret,) if the_secret else (),
            skip_verify=skip_verify or not the_secret,
            respond=respond_mode,
            status=status,
            delay=delay,
            fail_rate=fail_rate,
            max_body=max_body,
            forward_to=tuple(forward_to or ()),
            forward_timeout=forward_timeout,
            concurrency=concurrency,
            events=tuple(patterns),
            record=None if no_record else (record or default_record_path(app_state)),
        ),
        tunnel=use_tunnel,
        domain=domain,
        webhook_ref=webhook_ref,
        keep_stale=keep_stale,
        subscribe=tuple(subscribe),
        stable_secret=stable,
        demo=demo,
        ndjson=output_format is OutputFormat.ndjson or app_state.printer.json,
        verbose=verbose,
        signature_hint=hint,
        ready_file=ready_file,
        expectations=expectations,
        where=conditions,
        deadline_s=timeout,
        inspect=None if no_inspect else Inspect(inspect_port),
    )
    _run(app_state, options, report)


# --- parsing and checking the options ---------------------------------------------------------


def parse_respond(value: str) -> tuple[Respond, int]:
    """--respond -> (mode, the status a FIXED mode answers)."""
    if value in (Respond.ACK, Respond.PASSTHROUGH):
        return Respond(value), 200
    if value.isdigit() and 100 <= int(value) <= 599:
        return Respond.FIXED, int(value)
    raise UsageError(
        f"--respond {value!r}: use ack, passthrough, or a status code such as 500",
    )


def _use_tunnel(app_state: AppState, *, demo: bool, tunnel: bool, no_tunnel: bool) -> bool:
    """Whether to open the ngrok tunnel: by default unless on the sandbox."""
    if demo and not app_state.sandbox:
        raise UsageError("--demo makes traffic on the sandbox: add --sandbox")
    if tunnel and no_tunnel:
        raise UsageError("--tunnel and --no-tunnel exclude each other")
    return tunnel or not (app_state.sandbox or no_tunnel)


def _check_tunnel_options(use_tunnel: bool, *, webhook_ref: str | None, domain: str | None) -> None:
    if webhook_ref and not use_tunnel:
        raise UsageError("--webhook points a webhook at the tunnel: it needs the tunnel")
    if domain and not use_tunnel:
        raise UsageError("--domain is the tunnel's: it needs the tunnel")


def _event_types(app_state: AppState, events: list[str]) -> tuple[list[str], list[str]]:
    """(--events patterns, or default_events; the event types they subscribe to)."""
    patterns = [p.strip() for value in events for p in value.split(",") if p.strip()]
    if not patterns:  # default_events (APIMW_EVENTS or the profile), validated; [] is all
        from apimw_cli.settings import default_event_patterns

        patterns = default_event_patterns(app_state.settings)
    subscribe = catalog.expand(patterns) if patterns else list(catalog.EVENT_NAMES)
    if patterns and not subscribe:
        guess = catalog.suggest(patterns[0])
        raise UsageError(
            f"--events {', '.join(patterns)} matches no event type"
            + (f": did you mean {guess!r}?" if guess else "")
        )
    return patterns, subscribe


def _given_secret(
    app_state: AppState,
    ways: tuple[str | None, str | None, Path | None],
    *,
    needed: bool,
) -> str | None:
    """The secret given with --secret (or -), --secret-env or --secret-file; a usage error
    when `needed` and none."""
    value, env_var, file = ways
    given = read_secret(SecretOptions(), app_state.printer.warn, value, env_var, file)
    if needed and not given:
        raise UsageError(
            "no secret to verify signatures with",
            hint="pass --secret-file FILE or --secret-env VAR with your webhook's secret, "
            "or --skip-verify",
        )
    return given


def _session_secret(
    app_state: AppState, given: str | None, use_tunnel: bool, webhook_ref: str | None
) -> tuple[str | None, bool]:
    """(the secret the session verifies with, whether it is the profile's stable one): listen
    registers a webhook itself, and without a secret given it uses the profile's own."""
    stable = bool((app_state.sandbox or use_tunnel) and not webhook_ref and not given)
    the_secret = listen_secret.stable_secret(app_state.settings) if stable else given
    remember(the_secret)  # masked in every message and --debug traceback
    return the_secret, stable


def _check_receiver(
    host: str,
    port: int,
    forward_to: list[str],
    inspect: tuple[int | None, bool, bool],
    record: Path | None,
) -> None:
    """The port is free (unless 0), every --forward-to is an http(s) URL, --inspect-port
    (with --no-inspect and --no-record: `inspect`) goes with an inspector on a free port, and
    --record is a file the log can be (sessions.check_record_file)."""
    from apimw_cli.sockets import port_is_free

    if port and not port_is_free(host, port):
        raise ApimwError(
            f"port {port} on {host} is in use",
            hint="stop what uses it, or pick another with --port (0: any free port)",
        )
    for target in forward_to:
        check_http_url(target, "--forward-to")
    inspect_port, no_inspect, no_record = inspect
    inspection.check_port(inspect_port, port, no_inspect=no_inspect, no_record=no_record)
    if record is not None and not no_record:
        from apimw_cli.receiver.sessions import check_record_file

        check_record_file(record)


def default_record_path(app_state: AppState) -> Path:
    """The session log: <data dir>/sessions/<time>-<pid>.jsonl, in a private directory whose
    older logs past keep_sessions/keep_session_days are pruned first."""
    from apimw_cli.receiver.retention import prepare_sessions_dir
    from apimw_cli.settings import session_retention

    directory = prepare_sessions_dir(*session_retention(app_state.settings))
    return directory / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.jsonl"


# --- running the session, and rendering how it ended ------------------------------------------
def _run(app_state: AppState, options: ListenOptions, report: Path | None) -> None:
    # The session (server stack, live view, tunnel) is imported when a session runs, not for
    # `listen --help`.
    from apimw_cli.session.run import ListenSession

    session = ListenSession(app_state, options)
    _render(session.view, options, session.run(), report)


def _render(
    view: LiveView, options: ListenOptions, result: SessionResult, report: Path | None
) -> None:
    """The summary, how to replay failed forwards, the --report file; then the exit code."""
    outcome = {**result.outcome.as_dict(), "duration_s": result.duration_s}
    view.summary(result.tally, outcome=outcome)
    record, forward_to = options.receiver.record, options.receiver.forward_to
    if result.tally.forward_failures and record is not None and forward_to:
        targets = " ".join(f"--to {shlex.quote(t)}" for t in forward_to[:1])
        view.note(
            f"{result.tally.forward_failures} forward(s) failed or were not sent; to send them "
            f"again: apimw events replay --failed {targets} {shlex.quote(str(record))}",
            replay=True,
        )
    if report is not None:
        from apimw_cli.session.outcome import write_report

        write_report(report, options, result, outcome)
    if result.outcome.failure is not None:
        raise result.outcome.failure
