"""`apimw webhooks`: register, list, inspect, update, enable, disable, delete and test webhooks.

One module per kind of work (register, show, manage, conformance_test). The group is built by
main.py from the table below, in the order `apimw webhooks --help` lists it, and imports a
command's module only when that command runs or shows its help: `apimw webhooks --help` and
`apimw webhooks list` import none of the others. A test checks each line against the
command's own help.
"""

from __future__ import annotations

# name -> ("module:function", the one-line help `apimw webhooks --help` shows)
COMMANDS: dict[str, tuple[str, str]] = {
    "register": (
        "apimw_cli.commands.webhooks.register:register",
        "Register a webhook; its signing secret is shown once.",
    ),
    "list": ("apimw_cli.commands.webhooks.show:list_webhooks", "List webhooks (every page)."),
    "inspect": (
        "apimw_cli.commands.webhooks.show:inspect",
        "Show one webhook, with its recent deliveries.",
    ),
    "update": (
        "apimw_cli.commands.webhooks.manage:update",
        "Change a webhook's URL, events, description or secret.",
    ),
    "enable": (
        "apimw_cli.commands.webhooks.manage:enable",
        "Turn deliveries on (re-enables a webhook APIMW disabled).",
    ),
    "disable": ("apimw_cli.commands.webhooks.manage:disable", "Turn deliveries off."),
    "delete": (
        "apimw_cli.commands.webhooks.manage:delete",
        "Delete a webhook (asks first on a terminal).",
    ),
    "test": (
        "apimw_cli.commands.webhooks.conformance_test:test",
        "Check that an endpoint is ready for APIMW's deliveries.",
    ),
}
