"""`apimw webhooks update`, `enable`, `disable` and `delete`: changes to a registered webhook."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from apimw_cli.commands.common import AppState, interactive, state
from apimw_cli.commands.webhooks.inputs import (
    OldSecretFile,
    SaveSecret,
    WebhookRef,
    check_url,
    read_secret,
)
from apimw_cli.commands.webhooks.views import hand_over_secret, show_webhook
from apimw_cli.errors import UsageError

if TYPE_CHECKING:
    from apimw_cli.models import Webhook

EventList = Annotated[
    list[str] | None,
    typer.Option("--events", "-e", metavar="TYPES", help="Replace the event types."),
]
AddEvent = Annotated[
    list[str] | None,
    typer.Option("--add-event", metavar="TYPES", help="Subscribe to more event types."),
]
RemoveEvent = Annotated[
    list[str] | None,
    typer.Option("--remove-event", metavar="TYPES", help="Unsubscribe from event types."),
]
RotateSecret = Annotated[
    bool,
    typer.Option("--rotate-secret", help="Set a new signing secret (generated unless given)."),
]
SecretStdin = Annotated[
    bool, typer.Option("--secret-stdin", help="With --rotate-secret: read it from stdin.")
]
SecretEnv = Annotated[
    str | None,
    typer.Option("--secret-env", metavar="VAR", help="With --rotate-secret: take it from $VAR."),
]


def update(
    ctx: typer.Context,
    webhook_ref: WebhookRef,
    url: Annotated[str | None, typer.Option("--url", metavar="URL", help="New URL.")] = None,
    events: EventList = None,
    add_event: AddEvent = None,
    remove_event: RemoveEvent = None,
    description: Annotated[
        str | None, typer.Option("--description", metavar="TEXT", help="New description.")
    ] = None,
    rotate_secret: RotateSecret = False,
    secret_stdin: SecretStdin = False,
    secret_env: SecretEnv = None,
    save_secret: SaveSecret = None,
    secret_file: OldSecretFile = None,
) -> None:
    """Change a webhook's URL, events, description or secret."""
    from apimw_cli.api import webhooks
    from apimw_cli.signing import new_secret

    if events and (add_event or remove_event):
        raise UsageError("--events replaces the list: do not combine it with --add/--remove-event")
    save_secret = save_secret or secret_file
    if (secret_stdin or secret_env or save_secret) and not rotate_secret:
        raise UsageError("--secret-stdin, --secret-env and --save-secret go with --rotate-secret")
    app_state = state(ctx)
    changes = _changes(app_state, url, events, description)
    given = read_secret(secret_stdin, secret_env) if rotate_secret else None
    secret = (given or new_secret()) if rotate_secret else None
    if secret is not None:
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
            changes["events"] = _edited_events(webhook, add_event or [], remove_event or [])
        webhook = webhooks.update(client, webhook.id, changes)
    app_state.printer.success(f"updated {webhook.id}: {', '.join(sorted(changes))}")
    secret_view: str | None = None
    extras: dict[str, Any] = {}
    if secret is not None:
        secret_view, extras = hand_over_secret(secret, given is None, save_secret)
    show_webhook(app_state, webhook, secret_view, extras)


def _changes(
    app_state: AppState, url: str | None, events: list[str] | None, description: str | None
) -> dict[str, Any]:
    """The fields to send that the options give outright (events added or removed aside)."""
    from apimw_cli import catalog

    changes: dict[str, Any] = {}
    if url is not None:
        changes["url"] = check_url(url, app_state)
    if events:
        changes["events"] = catalog.parse_events(events)
    if description is not None:
        changes["description"] = description
    return changes


def _edited_events(webhook: Webhook, add: list[str], remove: list[str]) -> list[str]:
    """The webhook's events with `add` appended and `remove` taken out, in their order."""
    from apimw_cli import catalog

    current = list(webhook.events)
    added = catalog.parse_events(add)
    removed = set(catalog.parse_events(remove))
    # An argument (a type or a pattern) matching none of the webhook's events, counting those
    # this same command adds (`--add-event 'message.*' --remove-event message.read`), removes
    # nothing.
    having = set(current) | set(added)
    missing = [r for r in remove if not set(catalog.parse_events([r])) & having]
    if missing:  # say so, rather than "updated: events" with nothing removed
        listed = ", ".join(current) or "none"
        raise UsageError(
            f"webhook {webhook.id} is not subscribed to {', '.join(missing)}: nothing removed",
            hint=f"its events: {listed}",
        )
    updated = [e for e in current + [a for a in added if a not in current] if e not in removed]
    if not updated:
        raise UsageError("that would leave the webhook with no events")
    return updated


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


def enable(ctx: typer.Context, webhook_ref: WebhookRef) -> None:
    """Turn deliveries on (re-enables a webhook APIMW disabled)."""
    _set_active(ctx, webhook_ref, True)


def disable(ctx: typer.Context, webhook_ref: WebhookRef) -> None:
    """Turn deliveries off."""
    _set_active(ctx, webhook_ref, False)


def delete(
    ctx: typer.Context,
    webhook_ref: WebhookRef,
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
