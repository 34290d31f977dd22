"""`apimw webhooks register`: a new webhook, its signing secret shown once."""

from __future__ import annotations

from typing import Annotated

import typer

from apimw_cli.commands.common import state
from apimw_cli.commands.webhooks.inputs import OldSecretFile, SaveSecret, check_url, read_secret
from apimw_cli.commands.webhooks.views import hand_over_secret, report_verification, show_webhook
from apimw_cli.errors import UsageError
from apimw_cli.protocol import VERIFICATION_WAIT

Events = Annotated[
    list[str] | None,
    typer.Option(
        "--events",
        "-e",
        metavar="TYPES",
        help="Event types, comma-separated or repeated; globs (message.*) and 'all' work.",
    ),
]
SecretStdin = Annotated[
    bool, typer.Option("--secret-stdin", help="Read the signing secret from standard input.")
]
SecretEnv = Annotated[
    str | None,
    typer.Option("--secret-env", metavar="VAR", help="Take the signing secret from $VAR."),
]
GenerateSecret = Annotated[
    bool, typer.Option("--generate-secret", help="Generate a strong secret (the default).")
]
Inactive = Annotated[
    bool, typer.Option("--inactive", help="Register it disabled (no deliveries yet).")
]
Description = Annotated[
    str | None,
    typer.Option(
        "--description",
        metavar="TEXT",
        help="A note for humans (a field APIMW does not document: an API may refuse it).",
    ),
]
Wait = Annotated[
    bool, typer.Option("--wait/--no-wait", help="Wait for the verification challenge's outcome.")
]


def register(
    ctx: typer.Context,
    url: Annotated[
        str, typer.Option("--url", metavar="URL", help="HTTPS URL APIMW will POST events to.")
    ],
    events: Events = None,
    secret_stdin: SecretStdin = False,
    secret_env: SecretEnv = None,
    generate_secret: GenerateSecret = False,
    save_secret: SaveSecret = None,
    secret_file: OldSecretFile = None,
    inactive: Inactive = False,
    description: Description = None,
    wait: Wait = True,
) -> None:
    """Register a webhook; its signing secret is shown once.

    Examples:

      apimw webhooks register --url https://example.com/hooks --events message.received

      apimw -o json webhooks register --url https://ci.example.com/h --events all | jq -r .secret
    """
    from apimw_cli import catalog
    from apimw_cli.api import webhooks
    from apimw_cli.signing import new_secret

    app_state = state(ctx)
    names = catalog.parse_events(events or list(app_state.settings.get("default_events") or []))
    if not names:
        raise UsageError("no events given", hint="pass --events message.received (or 'all')")
    url = check_url(url, app_state)
    given = read_secret(secret_stdin, secret_env)
    if given is not None and generate_secret:
        raise UsageError("--generate-secret conflicts with a given secret")
    secret = given or new_secret()
    with app_state.client() as client:
        webhook = webhooks.create(
            client,
            url=url,
            events=names,
            secret=secret,
            active=False if inactive else None,
            description=description,
        )
        if wait and not inactive:
            webhook = webhooks.wait_for_verification(client, webhook, VERIFICATION_WAIT)
    app_state.printer.success(f"registered {webhook.id}")
    secret_view, extras = hand_over_secret(secret, given is None, save_secret or secret_file)
    show_webhook(app_state, webhook, secret_view, extras)
    report_verification(app_state, webhook)
