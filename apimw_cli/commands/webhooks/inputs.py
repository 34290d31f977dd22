"""What the webhooks commands take from the user: a webhook reference, a URL APIMW can deliver
to, and a signing secret given on stdin or in an environment variable."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer

from apimw_cli.commands.common import AppState, remember, secret_from_env
from apimw_cli.errors import UsageError
from apimw_cli.protocol import is_loopback

SaveSecret = Annotated[
    Path | None,
    typer.Option(
        "--save-secret",
        metavar="FILE",
        dir_okay=False,
        help="Write the new secret to FILE (0600) instead of showing it.",
    ),
]
# Everywhere else --secret-file reads a secret (listen, webhooks test, sign, verify, trigger);
# here it was the old name of --save-secret: still accepted, no longer shown.
OldSecretFile = Annotated[Path | None, typer.Option("--secret-file", hidden=True, dir_okay=False)]

WebhookRef = Annotated[
    str, typer.Argument(metavar="ID", help="Webhook id, unique id prefix, or exact URL.")
]


def check_url(url: str, app_state: AppState) -> str:
    """`url` if APIMW (or the sandbox, for loopback) delivers to it; else a usage error."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--url {url!r} is not an absolute http(s) URL")
    if parts.scheme == "https":
        return url
    api_host = urlsplit(app_state.settings.api_base).hostname or ""
    local_api = app_state.sandbox or is_loopback(api_host)
    if is_loopback(parts.hostname or "") and local_api:
        return url  # the sandbox delivers to loopback over plain http
    raise UsageError(
        f"APIMW only delivers to HTTPS URLs, not {url!r}",
        hint="to receive webhooks on a local port, run `apimw listen --forward-to "
        f"{url}`: it gives you a public HTTPS URL and registers it",
    )


def read_secret(from_stdin: bool, env_var: str | None) -> str | None:
    """A secret the user supplies (stdin or an env var), or None to generate one."""
    if from_stdin and env_var:
        raise UsageError("give the secret one way: --secret-stdin or --secret-env")
    if from_stdin:
        secret = sys.stdin.readline().strip()
        if not secret:
            raise UsageError("--secret-stdin was given but standard input was empty")
        remember(secret)  # masked in messages and --debug tracebacks
        return secret
    if env_var:
        return secret_from_env(env_var, "--secret-env")
    return None
