"""`apimw events list`: the event types of the catalog."""

from __future__ import annotations

import typer

from apimw_cli import catalog
from apimw_cli.commands.common import state


def list_(ctx: typer.Context) -> None:
    """List the event types you can subscribe to."""
    printer = state(ctx).printer
    rows = [{"type": e.name, "description": e.description} for e in catalog.EVENT_TYPES]

    def human() -> None:
        printer.table(["type", "description"], [[r["type"], r["description"]] for r in rows])

    printer.data(rows, human)
