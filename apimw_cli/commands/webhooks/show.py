"""`apimw webhooks list` and `inspect`: what is registered, and one webhook in full."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from apimw_cli.commands.common import state
from apimw_cli.commands.webhooks.inputs import WebhookRef
from apimw_cli.commands.webhooks.views import (
    delivery_row,
    events_cell,
    status_cell,
    verified_cell,
)
from apimw_cli.errors import UsageError

if TYPE_CHECKING:
    from apimw_cli.models import Delivery, Webhook
    from apimw_cli.output import Printer


def list_webhooks(
    ctx: typer.Context,
    active: Annotated[bool, typer.Option("--active", help="Only active webhooks.")] = False,
    inactive: Annotated[
        bool, typer.Option("--inactive", help="Only inactive or disabled webhooks.")
    ] = False,
    event: Annotated[
        str | None,
        typer.Option(
            "--event", metavar="TYPE", help="Only webhooks subscribed to this event type."
        ),
    ] = None,
) -> None:
    """List webhooks (every page).

    Examples:

      apimw webhooks list

      apimw webhooks list --active --event message.received

      apimw -o json webhooks list | jq -r '.[].id'
    """
    from apimw_cli import catalog
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


def inspect(
    ctx: typer.Context,
    webhook_ref: WebhookRef,
    deliveries: Annotated[
        int,
        typer.Option("--deliveries", metavar="N", help="How many recent attempts to show.", min=0),
    ] = 10,
) -> None:
    """Show one webhook, with its recent deliveries."""
    from apimw_cli.api import webhooks

    app_state = state(ctx)
    printer = app_state.printer
    with app_state.client() as client:
        webhook = webhooks.resolve(client, webhook_ref)
        attempts = webhooks.deliveries(client, webhook.id, deliveries) if deliveries else []
    data = webhook.to_dict()
    if attempts is not None:
        data["deliveries"] = [dict(d.raw) for d in attempts]
    printer.data(data, lambda: _show_inspected(printer, webhook, attempts, asked=deliveries > 0))


def _show_inspected(
    printer: Printer, webhook: Webhook, attempts: list[Delivery] | None, *, asked: bool
) -> None:
    """The human view of `inspect`: the webhook's fields, why it is unhealthy, its deliveries."""
    printer.fields(_inspected_fields(webhook))
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
    elif asked:
        printer.info("no deliveries yet")


def _inspected_fields(webhook: Webhook) -> dict[str, Any]:
    last_delivery = (webhook.last_delivery_at, webhook.last_delivery_status)
    return {
        "id": webhook.id,
        "url": webhook.url,
        "events": ", ".join(webhook.events),
        "status": status_cell(webhook),
        "verified": verified_cell(webhook) or None,
        "description": webhook.description,
        "failures": webhook.failure_count,
        "last delivery": " ".join(str(x) for x in last_delivery if x) or None,
        "created": webhook.created_at,
        "updated": webhook.updated_at,
    }
