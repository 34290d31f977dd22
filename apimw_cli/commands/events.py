"""`apimw events`: the event catalog and realistic sample payloads."""

from __future__ import annotations

from typing import Annotated

import typer

from apimw_cli import catalog
from apimw_cli.commands.common import state
from apimw_cli.errors import UsageError

app = typer.Typer(
    help="The event types APIMW sends, and sample payloads.",
    no_args_is_help=True,
    rich_markup_mode=None,
    add_completion=False,
)


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """List the event types you can subscribe to."""
    printer = state(ctx).printer
    rows = [{"type": e.name, "description": e.description} for e in catalog.EVENT_TYPES]

    def human() -> None:
        printer.table(["type", "description"], [[r["type"], r["description"]] for r in rows])

    printer.data(rows, human)


@app.command("show")
def show(
    ctx: typer.Context,
    event_type: Annotated[str, typer.Argument(metavar="TYPE", help="An event type.")],
) -> None:
    """Print a realistic sample payload (what the sandbox sends)."""
    printer = state(ctx).printer
    if catalog.get(event_type) is None:
        guess = catalog.suggest(event_type)
        raise UsageError(
            f"unknown event type {event_type!r}" + (f": did you mean {guess!r}?" if guess else ""),
            hint="`apimw events list` shows them all",
        )
    printer.data(catalog.sample(event_type))
