"""`apimw events log`: the requests of a recorded session, one line each."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from apimw_cli.commands.common import state
from apimw_cli.commands.events.display import bounded, clock, shown
from apimw_cli.receiver import sessions


def log(
    ctx: typer.Context,
    file: Annotated[
        Path | None, typer.Argument(help="A session file [default: the latest session].")
    ] = None,
    last: Annotated[int | None, typer.Option("--last", help="Only the last N.", min=1)] = None,
) -> None:
    """List the events `apimw listen` recorded."""
    printer = state(ctx).printer
    session = sessions.session_file(file)
    requests, forwards = sessions.load(session, printer.warn)
    if last is not None:
        requests = requests[-last:]
    rows: list[dict[str, Any]] = [sessions.log_row(r, forwards) for r in requests]

    def human() -> None:
        printer.info(f"session {session}")
        printer.table(
            ["id", "time", "type", "status", "signature", "forwarded"],
            [
                [
                    shown(row["id"]),
                    clock(row["received_at"]),
                    shown(row["type"] or row["kind"]),
                    shown(row["status"]),
                    shown(row["verdict"]),
                    ", ".join(
                        shown(f["status"] if f["error"] is None else f["error"])
                        for f in row["forwards"]
                    ),
                ]
                for row in rows
            ],
        )

    printer.data(bounded(rows), human)
