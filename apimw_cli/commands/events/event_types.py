"""`apimw events list`: the event types of the catalog."""

from __future__ import annotations

import typer

from apimw_cli import catalog
from apimw_cli.commands.common import state


def list_(ctx: typer.Context) -> None:
    """List the event types you can subscribe to."""
    printer = state(ctx).printer
    rows = [
        {"type": e.name, "description": e.description, "documented": e.documented}
        for e in catalog.EVENT_TYPES
    ]

    def human() -> None:
        printer.table(
            ["type", "description", "data"],
            [
                [
                    r["type"],
                    r["description"],
                    "documented" if r["documented"] else "undocumented (*)",
                ]
                for r in rows
            ],
        )
        if not all(r["documented"] for r in rows):
            printer.info(
                f"(*) {catalog.UNDOCUMENTED}: the sandbox sends the shape `apimw events show`"
                " prints, and the real API may differ"
            )

    printer.data(rows, human)
