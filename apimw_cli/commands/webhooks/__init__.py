"""`apimw webhooks`: register, list, inspect, update, enable, disable, delete and test webhooks.

One module per kind of work (register, show, manage, conformance_test); this one builds the
command group from them, in the order `apimw webhooks --help` lists them.
"""

from __future__ import annotations

import typer

from apimw_cli.commands.webhooks.conformance_test import test
from apimw_cli.commands.webhooks.manage import delete, disable, enable, update
from apimw_cli.commands.webhooks.register import register as register_webhook
from apimw_cli.commands.webhooks.show import inspect, list_webhooks

app = typer.Typer(
    help="Register, list, inspect, update and delete webhooks.",
    no_args_is_help=True,
    rich_markup_mode=None,
    add_completion=False,
)

app.command("register")(register_webhook)
app.command("list")(list_webhooks)
app.command("inspect")(inspect)
app.command("update")(update)
app.command("enable")(enable)
app.command("disable")(disable)
app.command("delete")(delete)
app.command("test")(test)
