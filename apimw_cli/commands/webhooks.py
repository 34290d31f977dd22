"""`apimw webhooks`: register, list, inspect, update, enable, disable and delete webhooks."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

import typer

from apimw_cli import catalog
from apimw_cli.commands.common import AppState, interactive, secret_from_env, state
from apimw_cli.errors import UsageError
from apimw_cli.listen_secret import new_secret
from apimw_cli.output import mask
from apimw_cli.protocol import VERIFICATION_WAIT, is_loopback
from apimw_cli.settings import write_private_file

if TYPE_CHECKING:
    from apimw_cli.models import Delivery, Webhook

app = typer.Typer(
    help="Register, list, inspect, update and delete webhooks.",
    no_args_is_help=True,
    rich_markup_mode=None,
    add_completion=False,
)


# --- helpers shared by the commands --------------------------------------------------------


def check_url(url: str, app_state: AppState) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--url {url!r} is not an absolute http(s) URL")
    if parts.scheme == "https":
        return url
    api_host = urlsplit(app_state.settings.api_base).hostname or ""
    local_api = app_state.sandbox or is_loopback(api_host)
    if is_loopback(parts.hostname or "") and local_api:
        return url  # the sandbox delivers to loopback over plain http
    raise UsageError(
        f"APIMW only delivers to HTTPS URLs, not {url!r}",
        hint="to receive webhooks on a local port, run `apimw listen --forward-to "
        f"{url}`: it gives you a public HTTPS URL and registers it",
    )


def read_secret(from_stdin: bool, env_var: str | None) -> str | None:
    """A secret the user supplies (stdin or an env var), or None to generate one."""
    if from_stdin and env_var:
        raise UsageError("give the secret one way: --secret-stdin or --secret-env")
    if from_stdin:
        secret = sys.stdin.readline().strip()
        if not secret:
            raise UsageError("--secret-stdin was given but standard input was empty")
        return secret
    if env_var:
        return secret_from_env(env_var, "--secret-env")
    return None


def events_cell(events: tuple[str, ...]) -> str:
    if set(events) == set(catalog.EVENT_NAMES):
        return f"all ({len(events)})"
    return ", ".join(events)


def status_cell(webhook: Webhook) -> str:
    if webhook.active:
        return "active"
    return "disabled" if webhook.disabled_reason else "inactive"


def verified_cell(webhook: Webhook) -> str:
    return {True: "yes", False: "no", None: "pending" if "verified" in webhook.raw else ""}[
        webhook.verified
    ]


def report_verification(app_state: AppState, webhook: Webhook) -> None:
    printer = app_state.printer
    if webhook.verified is True:
        printer.success("verification challenge answered")
    elif webhook.verified is False:
        printer.warn(
            f"the endpoint did not answer the verification challenge: "
            f"{webhook.verification_error or 'no reason given'}"
        )
        printer.info(
            "hint: it must answer 200 with the challenge value; `apimw listen` does that for you"
        )
    elif "verified" in webhook.raw:
        printer.info("verification still pending: see `apimw webhooks inspect` later")


def hand_over_secret(
    secret: str, generated: bool, secret_file: Path | None
) -> tuple[str, dict[str, Any]]:
    """A new secret is shown exactly once, or written to a 0600 file; one the user gave is
    never echoed. Returns what the human view shows and what JSON output adds."""
    if secret_file is not None:
        write_private_file(secret_file, (secret + "\n").encode())
        return f"written to {secret_file} (mode 0600)", {"secret_file": str(secret_file)}
    if not generated:
        return f"{mask(secret)} (the one you gave)", {}
    return secret, {"secret": secret}


def show_webhook(
    app_state: AppState, webhook: Webhook, secret_view: str | None, extras: dict[str, Any]
) -> None:
    printer = app_state.printer
    if printer.json:
        printer.data({**webhook.to_dict(), **extras})
        return
    fields: dict[str, Any] = {
        "id": webhook.id,
        "url": webhook.url,
        "events": ", ".join(webhook.events),
        "status": status_cell(webhook),
    }
    if secret_view is not None:
        fields["secret"] = secret_view
    printer.fields(fields)
    if "secret" in extras:
        printer.warn("the signing secret is shown once: store it now (APIMW never returns it)")


# --- commands --------------------------------------------------------------------------------


@app.command("register")
def register(
    ctx: typer.Context,
    url: Annotated[str, typer.Option("--url", help="HTTPS URL APIMW will POST events to.")],
    events: Annotated[
        list[str] | None,
        typer.Option(
            "--events",
            "-e",
            help="Event types, comma-separated or repeated; globs (message.*) and 'all' work.",
        ),
    ] = None,
    secret_stdin: Annotated[
        bool, typer.Option("--secret-stdin", help="Read the signing secret from standard input.")
    ] = False,
    secret_env: Annotated[
        str | None,
        typer.Option("--secret-env", metavar="VAR", help="Take the signing secret from $VAR."),
    ] = None,
    generate_secret: Annotated[
        bool,
        typer.Option("--generate-secret", help="Generate a strong secret (the default)."),
    ] = False,
    secret_file: Annotated[
        Path | None,
        typer.Option(
            "--secret-file",
            dir_okay=False,
            help="Write the new secret to this file (0600) instead of showing it.",
        ),
    ] = None,
    inactive: Annotated[
        bool, typer.Option("--inactive", help="Register it disabled (no deliveries yet).")
    ] = False,
    description: Annotated[
        str | None, typer.Option("--description", help="A note for humans.")
    ] = None,
    wait: Annotated[
        bool,
        typer.Option("--wait/--no-wait", help="Wait for the verification challenge's outcome."),
    ] = True,
) -> None:
    """Register a webhook; its signing secret is shown once.

    Examples:

      apimw webhooks register --url https://example.com/hooks --events message.received

      apimw -o json webhooks register --url https://ci.example.com/h --events all | jq -r .secret
    """
    from apimw_cli.api import webhooks

    app_state = state(ctx)
    printer = app_state.printer
    names = catalog.parse_events(events or list(app_state.settings.get("default_events") or []))
    if not names:
        raise UsageError("no events given", hint="pass --events message.received (or 'all')")
    url = check_url(url, app_state)
    given = read_secret(secret_stdin, secret_env)
    if given is not None and generate_secret:
        raise UsageError("--generate-secret conflicts with a given secret")
    secret = given or new_secret()
    with app_state.client() as client:
        webhook = webhooks.create(
            client,
            url=url,
            events=names,
            secret=secret,
            active=False if inactive else None,
            description=description,
        )
        if wait and not inactive:
            webhook = webhooks.wait_for_verification(client, webhook, VERIFICATION_WAIT)
    printer.success(f"registered {webhook.id}")
    secret_view, extras = hand_over_secret(secret, given is None, secret_file)
    show_webhook(app_state, webhook, secret_view, extras)
    report_verification(app_state, webhook)


@app.command("list")
def list_(
    ctx: typer.Context,
    active: Annotated[bool, typer.Option("--active", help="Only active webhooks.")] = False,
    inactive: Annotated[
        bool, typer.Option("--inactive", help="Only inactive or disabled webhooks.")
    ] = False,
    event: Annotated[
        str | None, typer.Option("--event", help="Only webhooks subscribed to this event type.")
    ] = None,
) -> None:
    """List webhooks (every page)."""
    from apimw_cli.api import webhooks

    if active and inactive:
        raise UsageError("--active and --inactive exclude each other")
    if event is not None:
        event = catalog.parse_events([event])[0] if "*" not in event else event
    app_state = state(ctx)
    printer = app_state.printer
    with app_state.client() as client:
        found = webhooks.list_webhooks(client)
    if active:
        found = [w for w in found if w.active]
    if inactive:
        found = [w for w in found if not w.active]
    if event is not None:
        wanted = set(catalog.expand([event]))
        found = [w for w in found if wanted & set(w.events)]

    def human() -> None:
        if not found:
            printer.info("no webhooks" + (" match" if active or inactive or event else " yet"))
            return
        printer.table(
            ["id", "url", "events", "status", "verified", "failures", "created"],
            [
                [
                    w.id,
                    w.url,
                    events_cell(w.events),
                    status_cell(w),
                    verified_cell(w),
                    "" if w.failure_count is None else w.failure_count,
                    w.created_at or "",
                ]
                for w in found
            ],
        )

    printer.data([w.to_dict() for w in found], human)


@app.command("inspect")
def inspect(
    ctx: typer.Context,
    webhook_ref: Annotated[
        str, typer.Argument(metavar="ID", help="Webhook id, unique id prefix, or exact URL.")
    ],
    deliveries: Annotated[
        int, typer.Option("--deliveries", help="How many recent attempts to show.", min=0)
    ] = 10,
) -> None:
    """Show one webhook, with its recent deliveries."""
    from apimw_cli.api import webhooks

    app_state = state(ctx)
    printer = app_state.printer
    with app_state.client() as client:
        webhook = webhooks.resolve(client, webhook_ref)
        attempts = webhooks.deliveries(client, webhook.id, deliveries) if deliveries else []

    def human() -> None:
        printer.fields(
            {
                "id": webhook.id,
                "url": webhook.url,
                "events": ", ".join(webhook.events),
                "status": status_cell(webhook),
                "verified": verified_cell(webhook) or None,
                "description": webhook.description,
                "failures": webhook.failure_count,
                "last delivery": " ".join(
                    str(x) for x in (webhook.last_delivery_at, webhook.last_delivery_status) if x
                )
                or None,
                "created": webhook.created_at,
                "updated": webhook.updated_at,
            }
        )
        if webhook.verified is False and webhook.verification_error:
            printer.warn(f"verification failed: {webhook.verification_error}")
        if not webhook.active and webhook.disabled_reason:
            printer.warn(f"disabled by APIMW: {webhook.disabled_reason}")
            printer.info(
                f"hint: fix the endpoint, then `apimw webhooks enable {webhook.id}` "
                "(this also resets the failure count)"
            )
        if attempts is None:
            printer.info("(this API does not report delivery attempts)")
        elif attempts:
            printer.line()
            printer.table(
                ["when", "event", "attempt", "status", "ms", "error", "next retry"],
                [delivery_row(d) for d in attempts],
                title="recent deliveries",
            )
        elif deliveries:
            printer.info("no deliveries yet")

    data = webhook.to_dict()
    if attempts is not None:
        data["deliveries"] = [dict(d.raw) for d in attempts]
    printer.data(data, human)


def delivery_row(d: Delivery) -> list[Any]:
    return [
        d.delivered_at or "",
        d.event_type,
        d.attempt,
        d.status_code if d.status_code is not None else "-",
        d.duration_ms,
        d.error or "",
        d.next_retry_at or "",
    ]


@app.command("update")
def update(
    ctx: typer.Context,
    webhook_ref: Annotated[
        str, typer.Argument(metavar="ID", help="Webhook id, unique id prefix, or exact URL.")
    ],
    url: Annotated[str | None, typer.Option("--url", help="New URL.")] = None,
    events: Annotated[
        list[str] | None, typer.Option("--events", "-e", help="Replace the event types.")
    ] = None,
    add_event: Annotated[
        list[str] | None, typer.Option("--add-event", help="Subscribe to more event types.")
    ] = None,
    remove_event: Annotated[
        list[str] | None, typer.Option("--remove-event", help="Unsubscribe from event types.")
    ] = None,
    description: Annotated[
        str | None, typer.Option("--description", help="New description.")
    ] = None,
    rotate_secret: Annotated[
        bool,
        typer.Option("--rotate-secret", help="Set a new signing secret (generated unless given)."),
    ] = False,
    secret_stdin: Annotated[
        bool, typer.Option("--secret-stdin", help="With --rotate-secret: read it from stdin.")
    ] = False,
    secret_env: Annotated[
        str | None,
        typer.Option(
            "--secret-env", metavar="VAR", help="With --rotate-secret: take it from $VAR."
        ),
    ] = None,
    secret_file: Annotated[
        Path | None,
        typer.Option("--secret-file", dir_okay=False, help="Write the new secret to this file."),
    ] = None,
) -> None:
    """Change a webhook's URL, events, description or secret."""
    from apimw_cli.api import webhooks

    if events and (add_event or remove_event):
        raise UsageError("--events replaces the list: do not combine it with --add/--remove-event")
    if (secret_stdin or secret_env or secret_file) and not rotate_secret:
        raise UsageError("--secret-stdin, --secret-env and --secret-file go with --rotate-secret")
    app_state = state(ctx)
    printer = app_state.printer
    changes: dict[str, Any] = {}
    if url is not None:
        changes["url"] = check_url(url, app_state)
    if events:
        changes["events"] = catalog.parse_events(events)
    if description is not None:
        changes["description"] = description
    secret: str | None = None
    given: str | None = None
    if rotate_secret:
        given = read_secret(secret_stdin, secret_env)
        secret = given or new_secret()
        changes["secret"] = secret
    if not (changes or add_event or remove_event):
        raise UsageError(
            "nothing to change",
            hint="pass --url, --events, --add-event, --remove-event, --description "
            "or --rotate-secret",
        )
    with app_state.client() as client:
        webhook = webhooks.resolve(client, webhook_ref)
        if add_event or remove_event:
            current = list(webhook.events)
            added = catalog.parse_events(add_event or [])
            removed = set(catalog.parse_events(remove_event or []))
            updated = [
                e for e in current + [a for a in added if a not in current] if e not in removed
            ]
            if not updated:
                raise UsageError("that would leave the webhook with no events")
            changes["events"] = updated
        webhook = webhooks.update(client, webhook.id, changes)
    printer.success(f"updated {webhook.id}: {', '.join(sorted(changes))}")
    secret_view: str | None = None
    extras: dict[str, Any] = {}
    if secret is not None:
        secret_view, extras = hand_over_secret(secret, given is None, secret_file)
    show_webhook(app_state, webhook, secret_view, extras)


def _set_active(ctx: typer.Context, webhook_ref: str, active: bool) -> None:
    from apimw_cli.api import webhooks

    app_state = state(ctx)
    printer = app_state.printer
    with app_state.client() as client:
        webhook = webhooks.resolve(client, webhook_ref)
        was_disabled = bool(webhook.disabled_reason)
        webhook = webhooks.update(client, webhook.id, {"active": active})
    if active:
        note = "; failure count reset" if was_disabled else ""
        printer.success(f"enabled {webhook.id}{note}")
    else:
        printer.success(f"disabled {webhook.id}: APIMW holds its deliveries until you enable it")
    if printer.json:
        printer.data(webhook.to_dict())


@app.command("enable")
def enable(
    ctx: typer.Context,
    webhook_ref: Annotated[
        str, typer.Argument(metavar="ID", help="Webhook id, unique id prefix, or exact URL.")
    ],
) -> None:
    """Turn deliveries on (re-enables a webhook APIMW disabled)."""
    _set_active(ctx, webhook_ref, True)


@app.command("disable")
def disable(
    ctx: typer.Context,
    webhook_ref: Annotated[
        str, typer.Argument(metavar="ID", help="Webhook id, unique id prefix, or exact URL.")
    ],
) -> None:
    """Turn deliveries off."""
    _set_active(ctx, webhook_ref, False)


@app.command("delete")
def delete(
    ctx: typer.Context,
    webhook_ref: Annotated[
        str, typer.Argument(metavar="ID", help="Webhook id, unique id prefix, or exact URL.")
    ],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a webhook (asks first on a terminal)."""
    from apimw_cli.api import webhooks

    app_state = state(ctx)
    printer = app_state.printer
    if not yes and not interactive():
        raise UsageError(
            "refusing to delete without confirmation", hint="not on a terminal: pass --yes"
        )
    with app_state.client() as client:
        webhook = webhooks.resolve(client, webhook_ref)
        if not yes and not typer.confirm(f"Delete {webhook.id} ({webhook.url})?", err=True):
            printer.info("nothing deleted")
            raise typer.Exit(1)
        webhooks.delete(client, webhook.id)
    printer.success(f"deleted {webhook.id}")
    if printer.json:
        printer.data({"id": webhook.id, "deleted": True})


# The conformance suite lives in its own module; it is one of this group's commands.
from apimw_cli.commands import webhook_test  # noqa: E402

app.command("test")(webhook_test.test)
