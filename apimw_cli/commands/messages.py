"""`apimw messages`: send a WhatsApp message and follow its status (real API or sandbox)."""

from __future__ import annotations

import re
from typing import Annotated, Any

import typer

from apimw_cli.commands.common import state
from apimw_cli.errors import UsageError

app = typer.Typer(
    help="Send WhatsApp messages and check their status.",
    no_args_is_help=True,
    rich_markup_mode=None,
    add_completion=False,
)

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
MAX_TEXT = 4096


@app.command("send")
def send(
    ctx: typer.Context,
    to: Annotated[str, typer.Option("--to", help="Recipient, E.164 (+14155550123).")],
    text: Annotated[
        str | None, typer.Option("--text", help="Message text ('-' reads standard input).")
    ] = None,
    preview_url: Annotated[
        bool | None,
        typer.Option("--preview-url/--no-preview-url", help="Let WhatsApp preview a link."),
    ] = None,
) -> None:
    """Send a text message; its message.* events follow.

    In the sandbox, a number ending in 0000 fails on purpose (message.failed).

    Example: apimw --sandbox messages send --to +14155550123 --text "Your order shipped"
    """
    import sys

    from apimw_cli.api import messages

    if not E164.match(to):
        raise UsageError(
            f"--to {to!r} is not an E.164 phone number",
            hint="use + and the country code, digits only: +14155550123",
        )
    if text is None or text == "-":
        if text is None and sys.stdin.isatty():
            raise UsageError("no message text", hint="pass --text TEXT, or pipe it with --text -")
        text = sys.stdin.read().rstrip("\n")
    if not text.strip():
        raise UsageError("the message text is empty")
    if len(text) > MAX_TEXT:
        raise UsageError(f"the message has {len(text)} characters; APIMW allows {MAX_TEXT}")
    app_state = state(ctx)
    printer = app_state.printer
    with app_state.client() as client:
        sent = messages.send(client, to, text, preview_url=preview_url)

    def human() -> None:
        printer.success(f"sent {sent.get('message_id')} to {sent.get('to', to)}")
        printer.line(str(sent.get("message_id", "")))

    printer.data(sent, human)


@app.command("status")
def status(
    ctx: typer.Context,
    message_id: Annotated[str, typer.Argument(metavar="MESSAGE_ID", help="wamid.… id.")],
) -> None:
    """Show a message's status and timestamps (sent, delivered, read)."""
    from apimw_cli.api import messages

    app_state = state(ctx)
    printer = app_state.printer
    with app_state.client() as client:
        data = messages.status(client, message_id)
    stamps: dict[str, Any] = data.get("timestamps") or {}

    def human() -> None:
        fields = {
            "message": data.get("message_id"),
            "to": data.get("to"),
            "type": data.get("type"),
            "status": data.get("status"),
            "sent": stamps.get("sent"),
            "delivered": stamps.get("delivered"),
            "read": stamps.get("read"),
        }
        error = data.get("error")
        if isinstance(error, dict):
            fields["error"] = f"{error.get('code')}: {error.get('message')}"
        printer.fields(fields)

    printer.data(data, human)
