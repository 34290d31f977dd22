"""`apimw events log`: the requests of a recorded session, one line each."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from apimw_cli.commands.common import state
from apimw_cli.commands.events.display import bounded, clock, shown
from apimw_cli.errors import UsageError
from apimw_cli.receiver import sessions


def log(
    ctx: typer.Context,
    file: Annotated[
        Path | None,
        typer.Argument(metavar="FILE", help="A session file [default: the latest session]."),
    ] = None,
    last: Annotated[
        int | None, typer.Option("--last", metavar="N", help="Only the last N.", min=1)
    ] = None,
    all_sessions: Annotated[
        bool,
        typer.Option("--all-sessions", help="Every session kept in the data dir, oldest first."),
    ] = False,
) -> None:
    """List the events `apimw listen` recorded."""
    printer = state(ctx).printer
    if all_sessions and file is not None:
        raise UsageError("name a session file or give --all-sessions, not both")
    chosen = sessions.all_session_files() if all_sessions else [sessions.session_file(file)]
    rows: list[dict[str, Any]] = []
    for session in chosen:
        requests, forwards = sessions.load(session, printer.warn)
        for request in requests:
            row = sessions.log_row(request, forwards)
            rows.append({"session": str(session), **row} if all_sessions else row)
    if last is not None:
        rows = rows[-last:]

    def session_cell(row: dict[str, Any]) -> list[str]:  # which session, with --all-sessions
        return [Path(row["session"]).stem] if all_sessions else []

    def human() -> None:
        if all_sessions:
            printer.info(f"{len(chosen)} sessions in {chosen[0].parent}")
        else:
            printer.info(f"session {chosen[0]}")
        printer.table(
            (["session"] if all_sessions else [])
            + ["id", "time", "type", "status", "signature", "forwarded"],
            [
                [
                    *session_cell(row),
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
