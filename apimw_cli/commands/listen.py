"""`apimw listen`: receive webhooks locally, verify them, show them live, forward, record.

This module wires the pieces: the receiver (receiver/) runs in a thread and hands records
through a queue; this thread renders them (output/live.py), checks `--expect`, and on Ctrl-C or
SIGTERM stops cleanly: the receiver drains, what `listen` registered is deleted, a summary
prints. The ngrok tunnel arrives with its own issue; `--sandbox` and `--no-tunnel` need none.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import re
import shlex
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from apimw_cli import catalog
from apimw_cli.commands.common import AppState, check_http_url, secret_from_env, state
from apimw_cli.errors import ApimwError, ExitCode, UsageError
from apimw_cli.models import Forwarded, Received, Tally
from apimw_cli.receiver.feed import Feed, Skipped
from apimw_cli.settings import SANDBOX_API_BASE, write_private_file

if TYPE_CHECKING:
    from apimw_cli.api.client import ApiClient
    from apimw_cli.output.live import LiveView
    from apimw_cli.receiver.server import RunningReceiver

TEMPORARY_MARKER = "apimw listen (temporary)"


class ListenFailed(ApimwError):
    """`--expect` was not met: timeout, an invalid signature, or a failed forward."""


def parse_duration(text: str) -> float:
    """`90`, `90s`, `2m`, `1h30m` -> seconds."""
    match = re.fullmatch(
        r"\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s?)?\s*", text
    )
    if not text.strip() or match is None or not any(match.groups()):
        raise UsageError(f"--timeout {text!r} is not a duration", hint="for example 30s, 2m, 1h30m")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def parse_expectations(values: list[str]) -> dict[str, int]:
    """`TYPE[:COUNT]` (TYPE may be a glob) -> {pattern: count}."""
    wanted: dict[str, int] = {}
    for value in values:
        pattern, _, count = value.partition(":")
        if not catalog.expand([pattern]):
            guess = catalog.suggest(pattern)
            raise UsageError(
                f"--expect {value!r}: unknown event type"
                + (f"; did you mean {guess!r}?" if guess else "")
            )
        if count and (not count.isdigit() or int(count) < 1):
            raise UsageError(f"--expect {value!r}: the count must be a whole number from 1")
        wanted[pattern] = wanted.get(pattern, 0) + (int(count) if count else 1)
    return wanted


def parse_respond(value: str) -> tuple[str, int]:
    from apimw_cli.receiver.events import Respond

    if value in (Respond.ACK, Respond.PASSTHROUGH):
        return value, 200
    if value.isdigit() and 100 <= int(value) <= 599:
        return Respond.FIXED, int(value)
    raise UsageError(
        f"--respond {value!r}: use ack, passthrough, or a status code such as 500",
    )


def received_by(tally: Tally, pattern: str) -> int:
    import fnmatch

    return sum(n for t, n in tally.by_type.items() if fnmatch.fnmatchcase(t, pattern))


def missing(tally: Tally, expectations: dict[str, int]) -> dict[str, tuple[int, int]]:
    return {
        pattern: (received_by(tally, pattern), count)
        for pattern, count in expectations.items()
        if received_by(tally, pattern) < count
    }


def default_record_path() -> Path:
    """The session log: <data dir>/sessions/<time>-<pid>.jsonl."""
    from apimw_cli.settings import sessions_dir

    return sessions_dir() / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.jsonl"


@contextlib.contextmanager
def sandbox_for(app_state: AppState, view: LiveView) -> Iterator[tuple[str, bool]]:
    """The sandbox `--sandbox` names, and whether it was already running; started here, in
    memory, when none answers there."""
    from apimw_cli.api.sandbox import is_up

    base = app_state.settings.api_base
    if is_up(base):
        yield base, True
        return
    if base.rstrip("/") != SANDBOX_API_BASE:
        raise ApimwError(
            f"no sandbox answers at {base}",
            hint="start one with `apimw sandbox`, or unset APIMW_SANDBOX_URL so listen starts one",
        )
    from apimw_cli.sandbox.config import SandboxConfig
    from apimw_cli.sandbox.server import run_in_thread

    try:
        with run_in_thread(SandboxConfig(ephemeral=True)) as running:
            view.note(f"started a sandbox at {running.base_url} (in memory, stops with listen)")
            yield running.base_url, False
    except OSError as exc:
        raise ApimwError(f"cannot start a sandbox at {base}: {exc}") from exc


@contextlib.contextmanager
def open_tunnel(app_state: AppState, domain: str | None) -> Iterator[Any]:
    """The ngrok tunnel, configured from apimw's settings; closed (agent stopped) on exit."""
    from apimw_cli.tunnel import Tunnel, TunnelSettings

    settings = app_state.settings
    token = settings.resolve("ngrok_authtoken")
    tunnel_settings = TunnelSettings(
        authtoken=token.value,
        authtoken_source=token.source,
        ngrok_path=settings.get("ngrok_path"),
        region=settings.get("ngrok_region"),
        config_dir=settings.config_dir / "ngrok",
        domain=domain,
    )
    with Tunnel(tunnel_settings) as tunnel:
        yield tunnel


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stale(fields: dict[str, str], url: str) -> bool:
    """A crashed session's: its pid is dead on this host, or its URL no longer answers."""
    from apimw_cli.tunnel import answers

    pid = fields.get("pid", "")
    if fields.get("host") == socket.gethostname() and pid.isdigit():
        return not _pid_alive(int(pid))
    return not answers(url)  # another machine's: alive only if its receiver still answers


def prune_stale(client: ApiClient, view: LiveView) -> None:
    """Delete temporary webhooks left by crashed `listen` sessions."""
    from apimw_cli.api import webhooks

    for webhook in webhooks.list_webhooks(client):
        text = webhook.description or ""
        if not text.startswith(TEMPORARY_MARKER):
            continue
        fields = dict(part.split("=", 1) for part in text.split() if "=" in part)
        if not _stale(fields, webhook.url):
            continue
        try:
            webhooks.delete(client, webhook.id)
            view.note(f"removed stale temporary webhook {webhook.id} ({webhook.url})")
        except ApimwError as exc:
            view.note(f"could not remove stale webhook {webhook.id}: {exc.message}")


def repoint(client: ApiClient, ref: str, url: str, view: LiveView) -> Any:
    """`--webhook ID`: send an existing webhook to the tunnel; returns it as it was."""
    from apimw_cli.api import webhooks

    webhook = webhooks.resolve(client, ref)
    webhooks.update(client, webhook.id, {"url": url})
    view.note(f"pointed webhook {webhook.id} at {url} (was {webhook.url})")
    return webhook


def _restore(client: ApiClient, webhook_id: str, url: str, view: LiveView) -> None:
    from apimw_cli.api import webhooks

    try:
        webhooks.update(client, webhook_id, {"url": url})
        view.note(f"restored webhook {webhook_id} to {url}")
    except ApimwError as exc:
        view.note(f"could not restore webhook {webhook_id} to {url}: {exc.message}")


class Watchdog:
    """Keeps the session healthy: restarts a dead tunnel and re-points the registration, and
    reports a registration APIMW disabled. Cheap enough to call on every loop turn."""

    TUNNEL_EVERY = 1.0  # is the agent process alive?
    SELF_CHECK_EVERY = 15.0  # does a request through the public URL reach us?
    WEBHOOK_EVERY = 15.0  # has APIMW disabled the registration?

    def __init__(
        self, tunnel: Any, client: ApiClient | None, webhook: Any, path: str, view: LiveView
    ) -> None:
        self.tunnel = tunnel
        self.client = client
        self.webhook = webhook
        self.path = path
        self.view = view
        self._next_tunnel = time.monotonic() + self.TUNNEL_EVERY
        self._next_self_check = time.monotonic() + self.SELF_CHECK_EVERY
        self._next_webhook = time.monotonic() + self.WEBHOOK_EVERY
        self._reported_disabled = False

    def check(self) -> None:
        now = time.monotonic()
        if self.tunnel is not None and now >= self._next_tunnel:
            self._next_tunnel = now + self.TUNNEL_EVERY
            if not self.tunnel.alive():
                self._heal_tunnel()
        if self.tunnel is not None and now >= self._next_self_check:
            from apimw_cli.tunnel import answers

            self._next_self_check = now + self.SELF_CHECK_EVERY
            public = self.tunnel.public_url
            if public and not answers(public.rstrip("/") + self.path):
                self._heal_tunnel()
        if self.client is not None and self.webhook is not None and now >= self._next_webhook:
            self._next_webhook = now + self.WEBHOOK_EVERY
            self._check_webhook()

    def _heal_tunnel(self) -> None:
        from apimw_cli.api import webhooks

        old = self.tunnel.public_url
        self.view.tunnel("down", "the tunnel stopped answering: restarting it", public_url=old)
        try:
            public = self.tunnel.restart()
        except ApimwError as exc:
            self.view.tunnel("failed", f"could not restart the tunnel: {exc.message}")
            return
        self.view.tunnel("restarted", f"tunnel back: {public}", public_url=public)
        if public != old and self.client is not None and self.webhook is not None:
            url = public.rstrip("/") + self.path
            try:
                webhooks.update(self.client, self.webhook.id, {"url": url})
                self.view.note(f"re-pointed webhook {self.webhook.id} at {url}", public_url=public)
            except ApimwError as exc:
                self.view.note(f"could not re-point webhook {self.webhook.id}: {exc.message}")

    def _check_webhook(self) -> None:
        from apimw_cli.api import webhooks

        assert self.client is not None
        try:
            current = webhooks.get(self.client, self.webhook.id)
        except ApimwError:
            return  # a passing API problem: check again later
        if not current.active and not self._reported_disabled:
            self._reported_disabled = True
            reason = current.disabled_reason or "no reason given"
            self.view.note(
                f"APIMW disabled webhook {current.id}: {reason}. Fix the endpoint, then "
                f"`apimw webhooks enable {current.id}`",
                webhook="disabled",
            )


def register_temporary(client: ApiClient, url: str, events: list[str], secret: str) -> Any:
    from apimw_cli.api import webhooks

    description = (
        f"{TEMPORARY_MARKER} host={socket.gethostname()} pid={os.getpid()} "
        f"started={time.strftime('%Y-%m-%dT%H:%M:%S%z')}"
    )
    return webhooks.create(client, url=url, events=events, secret=secret, description=description)


def listen(
    ctx: typer.Context,
    forward_to: Annotated[
        list[str] | None,
        typer.Option(
            "--forward-to",
            "-f",
            metavar="URL",
            help="Your app's URL; events are POSTed there (repeatable).",
        ),
    ] = None,
    events: Annotated[
        list[str] | None,
        typer.Option(
            "--events",
            "-e",
            metavar="TYPES",
            help="Event types to subscribe to, show and forward; globs work "
            "[default: the default_events setting, else all].",
        ),
    ] = None,
    sandbox: Annotated[
        bool, typer.Option("--sandbox", help="Use the local sandbox (started here if needed).")
    ] = False,
    demo: Annotated[
        bool, typer.Option("--demo", help="With --sandbox: generate realistic traffic.")
    ] = False,
    no_tunnel: Annotated[
        bool,
        typer.Option("--no-tunnel", help="Local receiver only (behind your own tunnel or proxy)."),
    ] = False,
    tunnel: Annotated[
        bool, typer.Option("--tunnel", help="Open the ngrok tunnel even with --sandbox.")
    ] = False,
    domain: Annotated[
        str | None,
        typer.Option(
            "--domain", metavar="DOMAIN", help="Your reserved ngrok domain (a stable URL)."
        ),
    ] = None,
    webhook_ref: Annotated[
        str | None,
        typer.Option(
            "--webhook",
            metavar="ID",
            help="Point this existing webhook at the tunnel for the session (restored on exit).",
        ),
    ] = None,
    keep_stale: Annotated[
        bool,
        typer.Option("--keep-stale", help="Leave temporary webhooks of crashed sessions alone."),
    ] = False,
    host: Annotated[
        str, typer.Option("--host", metavar="HOST", help="Address to listen on.")
    ] = "127.0.0.1",
    port: Annotated[
        int,
        typer.Option(
            "--port", metavar="PORT", help="Port to listen on (0: any free port).", min=0, max=65535
        ),
    ] = 4242,
    path: Annotated[
        str | None, typer.Option("--path", help="Only accept this path (default: any path).")
    ] = None,
    secret: Annotated[
        str | None,
        typer.Option("--secret", help="Signing secret to verify with (prefer --secret-env)."),
    ] = None,
    secret_env: Annotated[
        str | None,
        typer.Option("--secret-env", metavar="VAR", help="Take the signing secret from $VAR."),
    ] = None,
    skip_verify: Annotated[
        bool, typer.Option("--skip-verify", help="Do not check signatures (prints a warning).")
    ] = False,
    respond: Annotated[
        str,
        typer.Option(
            "--respond",
            help="What APIMW gets: ack (200 at once), passthrough (your app's status), or a code.",
        ),
    ] = "ack",
    delay: Annotated[
        float, typer.Option("--delay", help="Seconds to wait before answering.", min=0)
    ] = 0.0,
    fail_rate: Annotated[
        float,
        typer.Option(
            "--fail-rate", help="Share of events answered 500 on purpose (0-1).", min=0, max=1
        ),
    ] = 0.0,
    max_body: Annotated[
        int, typer.Option("--max-body", help="Largest body accepted, bytes (else 413).", min=1)
    ] = 1_000_000,
    forward_timeout: Annotated[
        float, typer.Option("--forward-timeout", help="Seconds your app has to answer.", min=0.1)
    ] = 30.0,
    concurrency: Annotated[
        int, typer.Option("--concurrency", help="Forwards at once (1 keeps receipt order).", min=1)
    ] = 1,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show bodies and your app's answers.")
    ] = False,
    output_format: Annotated[
        str, typer.Option("--format", help="pretty, or ndjson (one JSON record a line).")
    ] = "pretty",
    record: Annotated[
        Path | None,
        typer.Option(
            "--record", dir_okay=False, help="Session log file [default: in the data dir]."
        ),
    ] = None,
    no_record: Annotated[bool, typer.Option("--no-record", help="Do not record events.")] = False,
    ready_file: Annotated[
        Path | None,
        typer.Option("--ready-file", dir_okay=False, help="Write the receive URL here once ready."),
    ] = None,
    expect: Annotated[
        list[str] | None,
        typer.Option("--expect", metavar="TYPE[:COUNT]", help="Exit 0 once these arrived (CI)."),
    ] = None,
    timeout: Annotated[
        str | None, typer.Option("--timeout", help="Give up after this long (30s, 2m).")
    ] = None,
    report: Annotated[
        Path | None, typer.Option("--report", dir_okay=False, help="Write a JSON report here.")
    ] = None,
    print_secret: Annotated[
        bool,
        typer.Option(
            "--print-secret",
            help="Print the signing secret listen's webhooks use (stable per profile) and exit.",
        ),
    ] = False,
    rotate_secret: Annotated[
        bool,
        typer.Option("--rotate-secret", help="Replace that secret with a new one, print it, exit."),
    ] = False,
) -> None:
    """Receive webhooks on your machine: verify, show, forward and record them.

    Examples:

      apimw listen --sandbox --demo

      apimw listen --sandbox --forward-to http://localhost:3000/webhooks

      apimw --sandbox listen --expect message.read --timeout 30s --format ndjson
    """
    from apimw_cli.output.live import LiveView
    from apimw_cli.receiver.events import ReceiverConfig, Respond
    from apimw_cli.receiver.server import run_in_thread

    app_state = state(ctx)
    if sandbox:
        app_state.use_sandbox()
    if print_secret or rotate_secret:
        _print_secret(app_state, rotate=rotate_secret)
        return
    if output_format not in ("pretty", "ndjson"):
        raise UsageError(f"--format {output_format!r}: use pretty or ndjson")
    ndjson = output_format == "ndjson" or app_state.printer.json
    if demo and not app_state.sandbox:
        raise UsageError("--demo makes traffic on the sandbox: add --sandbox")
    if tunnel and no_tunnel:
        raise UsageError("--tunnel and --no-tunnel exclude each other")
    use_tunnel = tunnel or not (app_state.sandbox or no_tunnel)
    if webhook_ref and not use_tunnel:
        raise UsageError("--webhook points a webhook at the tunnel: it needs the tunnel")
    if domain and not use_tunnel:
        raise UsageError("--domain is the tunnel's: it needs the tunnel")
    respond_mode, status = parse_respond(respond)
    expectations = parse_expectations(expect or [])
    deadline_s = parse_duration(timeout) if timeout else None
    patterns = [p.strip() for value in (events or []) for p in value.split(",") if p.strip()]
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
    given_secret = secret_from_env(secret_env, "--secret-env") if secret_env else secret
    if (no_tunnel or webhook_ref) and not given_secret and not skip_verify:
        raise UsageError(
            "no secret to verify signatures with",
            hint="pass --secret-env VAR with your webhook's secret, or --skip-verify",
        )
    from apimw_cli.sockets import port_is_free

    if port and not port_is_free(host, port):
        raise ApimwError(
            f"port {port} on {host} is in use",
            hint="stop what uses it, or pick another with --port (0: any free port)",
        )
    for target in forward_to or []:
        check_http_url(target, "--forward-to")
    record_path = None if no_record else (record or default_record_path())

    registers = (app_state.sandbox or use_tunnel) and not webhook_ref
    stable = registers and not given_secret
    the_secret = given_secret
    if stable:
        from apimw_cli.listen_secret import stable_secret

        the_secret = stable_secret(app_state.settings)
    view = LiveView(
        app_state.printer,
        ndjson=ndjson,
        verbose=verbose,
        signature_hint=_signature_hint(app_state, stable, secret_env),
        recorded=record_path is not None,
    )
    # The receiver counts and decides (--expect) as it appends here; this thread shows what it
    # finds every few ms. (Waking this thread per event would cost the receiver a GIL hand-over
    # each time.) A reader that stalls makes the feed skip lines, never grow without bound.
    feed = Feed(decide=(lambda item, t: _check(item, t, expectations)) if expectations else None)
    tally = feed.tally
    stop = threading.Event()
    outcome: dict[str, Any] = {"outcome": "stopped"}
    started = time.monotonic()
    webhook: Any = None

    previous_term = signal.getsignal(signal.SIGTERM)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with contextlib.ExitStack() as stack:
            api_base = None
            client = None
            prune = use_tunnel and not keep_stale
            if app_state.sandbox:
                api_base, shared = stack.enter_context(sandbox_for(app_state, view))
                app_state.use_sandbox(api_base)
                client = stack.enter_context(app_state.client())
                # A sandbox that outlives listen may hold a killed session's webhook.
                prune = shared and not keep_stale
            elif use_tunnel:
                api_base = app_state.settings.api_base
                client = stack.enter_context(app_state.client())
            if client is not None and prune:
                prune_stale(client, view)
            config = ReceiverConfig(
                host=host,
                port=port,
                path=path,
                secrets=(the_secret,) if the_secret else (),
                skip_verify=skip_verify or not the_secret,
                respond=Respond(respond_mode),
                status=status,
                delay=delay,
                fail_rate=fail_rate,
                max_body=max_body,
                forward_to=tuple(forward_to or ()),
                forward_timeout=forward_timeout,
                concurrency=concurrency,
                events=tuple(patterns),
                record=record_path,
            )
            try:
                running = stack.enter_context(run_in_thread(config, feed))
            except (OSError, RuntimeError, TimeoutError) as exc:
                raise ApimwError(
                    f"cannot start the receiver on {host}:{port}: {exc}",
                    hint="pick another --port, or check that --record's folder is writable",
                ) from exc
            local_url = running.url.rstrip("/") + (path or "/webhooks")
            receive_url = local_url
            agent: Any = None
            if use_tunnel:
                agent = stack.enter_context(open_tunnel(app_state, domain))
                try:
                    public = agent.open(running.port, "127.0.0.1")
                except ApimwError:
                    if app_state.debug:  # the agent's own words (authtoken masked)
                        for line in agent.agent_log:
                            app_state.printer.info(f"ngrok: {line}")
                    raise
                receive_url = public.rstrip("/") + (path or "/webhooks")
                view.note(f"tunnel open: {public} -> {running.url}", public_url=public)
            if client is not None and webhook_ref:
                webhook = repoint(client, webhook_ref, receive_url, view)
                stack.callback(_restore, client, webhook.id, webhook.url, view)
            elif client is not None:
                assert the_secret is not None
                webhook = register_temporary(client, receive_url, subscribe, the_secret)
                stack.callback(_unregister, client, webhook.id, view)
                view.note(f"registered temporary webhook {webhook.id} for {receive_url}")
                _report_verification(client, webhook, view)
            watchdog = Watchdog(agent, client, webhook, path or "/webhooks", view)
            view.ready(
                receive_url=local_url,
                public_url=receive_url if use_tunnel else None,
                forward_to=forward_to or [],
                webhook_id=webhook.id if webhook is not None else None,
                secret=the_secret,
                verifying=not config.skip_verify,
                api=api_base,
            )
            if stable and not ndjson:
                app_state.printer.info(
                    "The signing secret is this profile's own, the same every session: give it "
                    "to your app once (`apimw listen --print-secret`)."
                )
            if record_path is not None and not ndjson:
                app_state.printer.info(f"recording to {record_path}")
            if ready_file is not None:
                write_private_file(ready_file, (receive_url + "\n").encode())
                stack.callback(ready_file.unlink, missing_ok=True)
            if demo and client is not None:
                from apimw_cli.api.sandbox import run_demo

                demo_client = stack.enter_context(app_state.client())
                demo_thread = threading.Thread(
                    target=run_demo, args=(demo_client, stop), daemon=True, name="apimw-demo"
                )
                demo_thread.start()
                stack.callback(demo_thread.join, 5)
                stack.callback(stop.set)
            deadline = None if deadline_s is None else time.monotonic() + deadline_s
            backlog = _BacklogReport(view, running.pending_forwards)
            screen = _Screen(view, feed)
            try:
                while not stop.is_set():
                    watchdog.check()
                    backlog.check()
                    if feed.decided is not None:
                        outcome = feed.decided
                        break
                    if deadline is not None and time.monotonic() > deadline:
                        outcome = {"outcome": "timeout" if expectations else "done"}
                        break
                    if not screen.catch_up():
                        stop.wait(0.05)
            except KeyboardInterrupt:
                outcome = {"outcome": "interrupted"}
                if not ndjson:
                    app_state.printer.info("")  # past the ^C the terminal echoed
            except BrokenPipeError:  # `listen | head`: the reader is gone, so is our audience
                _silence_stdout()
                outcome = {"outcome": "stopped", "reason": "the output was closed"}
            stop.set()
            # APIMW already got its 200 for what is queued: forward it before stopping.
            with contextlib.suppress(BrokenPipeError):
                _finish_forwards(view, screen, running)
        # The receiver has drained: show what arrived while stopping.
        with contextlib.suppress(BrokenPipeError):
            while screen.catch_up():
                pass
    except BrokenPipeError:
        _silence_stdout()
        outcome = {"outcome": "stopped", "reason": "the output was closed"}
    finally:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, previous_term)
    if outcome["outcome"] == "timeout":
        outcome["missing"] = {
            p: {"received": r, "expected": e} for p, (r, e) in missing(tally, expectations).items()
        }
    if outcome["outcome"] == "done" and tally.forward_failures:
        outcome = {"outcome": "forward_failure", "failed": tally.forward_failures}
    outcome["duration_s"] = round(time.monotonic() - started, 3)
    view.summary(tally, outcome=outcome)
    if tally.forward_failures and record_path is not None and forward_to:
        targets = " ".join(f"--to {shlex.quote(t)}" for t in forward_to[:1])
        view.note(
            f"{tally.forward_failures} forward(s) failed or were not sent; to send them again: "
            f"apimw events replay --failed {targets} {shlex.quote(str(record_path))}",
            replay=True,
        )
    if report is not None:
        data = {
            **outcome,
            "expectations": {
                p: {"expected": n, "received": received_by(tally, p)}
                for p, n in expectations.items()
            },
            "summary": tally.as_dict(),
            "webhook_id": webhook.id if webhook is not None else None,
            "record": str(record_path) if record_path else None,
        }
        write_private_file(report, (json.dumps(data, indent=2) + "\n").encode())
    _finish(outcome)


class _BacklogReport:
    """Says when forwarding falls behind (how far, every few seconds) and when it caught up."""

    EVERY = 5.0
    THRESHOLD = 100  # events waiting before it is worth a line

    def __init__(self, view: LiveView, pending: Callable[[], int]) -> None:
        self.view = view
        self.pending = pending
        self.reported = False
        self._next = time.monotonic() + 1.0

    def check(self) -> None:
        now = time.monotonic()
        if now < self._next:
            return
        waiting = self.pending()
        if waiting >= self.THRESHOLD:
            self.view.backlog(waiting)
            self.reported = True
            self._next = now + self.EVERY
        else:
            if self.reported and waiting == 0:
                self.view.backlog(0)
                self.reported = False
            self._next = now + 1.0


class _Screen:
    """Shows what the feed holds. Items taken but not yet shown stay here, so a Ctrl-C in the
    middle of a batch loses none of it: the rest is shown while stopping."""

    def __init__(self, view: LiveView, feed: Feed) -> None:
        self.view = view
        self.feed = feed
        self._taken: collections.deque[Received | Forwarded | Skipped] = collections.deque()

    def catch_up(self) -> bool:
        """Show what is waiting (one batch); False when there was nothing."""
        taken = self._taken
        if not taken:
            taken.extend(self.feed.take())
            if not taken:
                return False
        while taken:
            item = taken[0]
            if isinstance(item, Skipped):
                self.view.skipped(item.events, item.forwards)
            else:
                self.view.show(item)
            taken.popleft()  # only once shown
        return True


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that writes still queued (and the flush at exit) do not
    fail again on the closed pipe."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _print_secret(app_state: AppState, *, rotate: bool) -> None:
    """--print-secret / --rotate-secret: the stable secret alone on stdout (for `.env`)."""
    from apimw_cli import listen_secret

    settings = app_state.settings
    value = listen_secret.rotate(settings) if rotate else listen_secret.stable_secret(settings)
    app_state.printer.line(value)
    if rotate:
        app_state.printer.info(
            "a new secret: webhooks registered from now on use it; update your app's copy"
        )


def _signature_hint(app_state: AppState, stable: bool, secret_env: str | None) -> str:
    """What to say, once, when the app answers 401/403 to a forward."""
    if stable:
        where = " --sandbox" if app_state.sandbox else ""
        return (
            "your app rejected the signature: give it the secret that "
            f"`apimw listen{where} --print-secret` prints (the same every session)"
        )
    if secret_env:
        return f"your app rejected the signature: does it expect the secret in ${secret_env}?"
    return "your app rejected the signature: does it expect the secret given with --secret?"


FINISH_LIMIT = 30.0  # seconds listen waits for acknowledged forwards once stopping


def _finish_forwards(view: LiveView, screen: _Screen, running: RunningReceiver) -> None:
    """Wait (bounded, saying so) for the forwards of events APIMW already got a 200 for; a
    second Ctrl-C gives up on them (they are then reported as not forwarded)."""
    pending = running.pending_forwards()
    if not pending:
        return
    deadline = time.monotonic() + FINISH_LIMIT
    view.note(
        f"finishing {pending} forward(s) already acknowledged to APIMW "
        f"(up to {FINISH_LIMIT:.0f} s; Ctrl-C again to stop without them)",
        finishing=pending,
    )
    next_word = time.monotonic() + 5.0
    try:
        while (pending := running.pending_forwards()) and time.monotonic() < deadline:
            screen.catch_up()
            if time.monotonic() >= next_word:
                left = deadline - time.monotonic()
                view.note(f"{pending} forward(s) to go, {left:.0f} s left", finishing=pending)
                next_word += 5.0
            time.sleep(0.05)
    except KeyboardInterrupt:
        view.note(f"stopping without {running.pending_forwards()} forward(s)", finishing=0)
    if running.pending_forwards():
        running.abandon_forwards()
    screen.catch_up()


def _check(
    item: Received | Forwarded, tally: Tally, expectations: dict[str, int]
) -> dict[str, Any] | None:
    """With --expect: the outcome once it is decided, else None."""
    if isinstance(item, Received) and item.kind == "invalid":
        reason = item.verdict.reason if item.verdict else "invalid"
        return {"outcome": "invalid_signature", "reason": reason}
    if isinstance(item, Forwarded) and (item.error is not None or (item.status or 0) >= 400):
        return {
            "outcome": "forward_failure",
            "target": item.target,
            "error": item.error or f"HTTP {item.status}",
        }
    if not missing(tally, expectations):
        return {"outcome": "passed"}
    return None


def _finish(outcome: dict[str, Any]) -> None:
    kind = outcome["outcome"]
    if kind == "timeout":
        what = ", ".join(
            f"{p} ({v['received']} of {v['expected']})" for p, v in outcome["missing"].items()
        )
        raise ListenFailed(
            f"timed out waiting for {what}", hint="is the webhook subscribed to them?"
        )
    if kind == "invalid_signature":
        error = ListenFailed(f"an event had an invalid signature: {outcome['reason']}")
        error.exit_code = ExitCode.SIGNATURE
        raise error
    if kind == "forward_failure" and "target" in outcome:
        raise ListenFailed(f"forwarding to {outcome['target']} failed: {outcome['error']}")
    if kind == "forward_failure":
        raise ListenFailed(
            f"{outcome['failed']} forward(s) failed",
            hint="the lines marked ↳ say why; `apimw events log` lists them",
        )


def _report_verification(client: ApiClient, webhook: Any, view: LiveView) -> None:
    """Wait (briefly) for APIMW to say whether our receiver answered the challenge."""
    from apimw_cli.api.webhooks import wait_for_verification
    from apimw_cli.protocol import VERIFICATION_WAIT

    checked = wait_for_verification(client, webhook, VERIFICATION_WAIT)
    if checked.verified is True:
        view.note(f"webhook {webhook.id} verified", verified=True)
    elif checked.verified is False:
        view.note(
            f"APIMW could not verify webhook {webhook.id}: {checked.verification_error}",
            verified=False,
        )


def _unregister(client: ApiClient, webhook_id: str, view: LiveView) -> None:
    from apimw_cli.api import webhooks

    try:
        webhooks.delete(client, webhook_id)
        view.note(f"deleted temporary webhook {webhook_id}")
    except ApimwError as exc:
        view.note(f"could not delete temporary webhook {webhook_id}: {exc.message}")
