"""`apimw events`: the event catalog and realistic sample payloads, and the events `apimw listen`
recorded (log, show, replay, inspect). One submodule per command; receiver/sessions.py reads the
recorded sessions and display.py shows their values."""

from __future__ import annotations

import typer

from apimw_cli.commands.events.event_types import list_
from apimw_cli.commands.events.inspect import inspect
from apimw_cli.commands.events.log import log
from apimw_cli.commands.events.replay import replay
from apimw_cli.commands.events.show import show

app = typer.Typer(
    help="The event catalog, and the events `apimw listen` recorded (log, show, replay, inspect).",
    no_args_is_help=True,
    rich_markup_mode=None,
    add_completion=False,
)
app.command("list")(list_)
app.command("show")(show)
app.command("log")(log)
app.command("replay")(replay)
app.command("inspect")(inspect)
