"""How the webhooks commands show a webhook: table cells, the fields view, the verification
outcome, and the signing secret (shown once, or written to a private file)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from apimw_cli.commands.common import AppState
from apimw_cli.settings import write_private_file

if TYPE_CHECKING:
    from apimw_cli.models import Delivery, Webhook


def events_cell(events: tuple[str, ...]) -> str:
    from apimw_cli import catalog

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
        from apimw_cli.output import mask

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
