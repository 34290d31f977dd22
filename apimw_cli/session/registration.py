"""The webhook a listen session receives through, and the clean-up after it.

Either a temporary webhook registered for the session (deleted at its end; its description
marks it, so the next session can remove it if this one crashed) or an existing webhook
pointed at the session for its duration (`--webhook`, restored at its end). Clean-up never
raises: a failure is said on the live view, and the session still ends normally.
"""

from __future__ import annotations

import os
import socket
import time
from typing import TYPE_CHECKING

from apimw_cli.api import webhooks
from apimw_cli.errors import ApimwError
from apimw_cli.protocol import VERIFICATION_WAIT

if TYPE_CHECKING:
    from apimw_cli.api.client import ApiClient
    from apimw_cli.models import Webhook
    from apimw_cli.output.live import LiveView

__all__ = [
    "TEMPORARY_MARKER",
    "prune_stale",
    "register_temporary",
    "repoint",
    "report_verification",
    "restore",
    "unregister",
]

TEMPORARY_MARKER = "apimw listen (temporary)"  # how a temporary webhook's description begins


def register_temporary(client: ApiClient, url: str, events: list[str], secret: str) -> Webhook:
    """A webhook for this session, its description naming this host and process."""
    description = (
        f"{TEMPORARY_MARKER} host={socket.gethostname()} pid={os.getpid()} "
        f"started={time.strftime('%Y-%m-%dT%H:%M:%S%z')}"
    )
    return webhooks.create(client, url=url, events=events, secret=secret, description=description)


def report_verification(client: ApiClient, webhook: Webhook, view: LiveView) -> None:
    """Wait (briefly) for APIMW to say whether our receiver answered the challenge."""
    checked = webhooks.wait_for_verification(client, webhook, VERIFICATION_WAIT)
    if checked.verified is True:
        view.note(f"webhook {webhook.id} verified", verified=True)
    elif checked.verified is False:
        view.note(
            f"APIMW could not verify webhook {webhook.id}: {checked.verification_error}",
            verified=False,
        )


def unregister(client: ApiClient, webhook_id: str, view: LiveView) -> None:
    try:
        webhooks.delete(client, webhook_id)
        view.note(f"deleted temporary webhook {webhook_id}")
    except ApimwError as exc:
        view.note(f"could not delete temporary webhook {webhook_id}: {exc.message}")


def repoint(client: ApiClient, ref: str, url: str, view: LiveView) -> Webhook:
    """`--webhook ID`: send an existing webhook to the tunnel; returns it as it was."""
    webhook = webhooks.resolve(client, ref)
    webhooks.update(client, webhook.id, {"url": url})
    view.note(f"pointed webhook {webhook.id} at {url} (was {webhook.url})")
    return webhook


def restore(client: ApiClient, webhook_id: str, url: str, view: LiveView) -> None:
    try:
        webhooks.update(client, webhook_id, {"url": url})
        view.note(f"restored webhook {webhook_id} to {url}")
    except ApimwError as exc:
        view.note(f"could not restore webhook {webhook_id} to {url}: {exc.message}")


def prune_stale(client: ApiClient, view: LiveView) -> None:
    """Delete temporary webhooks left by crashed `listen` sessions."""
    for webhook in webhooks.list_webhooks(client):
        text = webhook.description or ""
        if not text.startswith(TEMPORARY_MARKER):
            continue
        fields = dict(part.split("=", 1) for part in text.split() if "=" in part)
        if not _stale(fields, webhook.url):
            continue
        try:
            webhooks.delete(client, webhook.id)
            view.note(f"removed stale temporary webhook {webhook.id} ({webhook.url})")
        except ApimwError as exc:
            view.note(f"could not remove stale webhook {webhook.id}: {exc.message}")


def _stale(fields: dict[str, str], url: str) -> bool:
    """A crashed session's: its pid is dead on this host, or its URL no longer answers."""
    from apimw_cli.tunnel import answers  # httpx: only when there is a webhook to judge

    pid = fields.get("pid", "")
    if fields.get("host") == socket.gethostname() and pid.isdigit():
        return not _pid_alive(int(pid))
    return not answers(url)  # another machine's: alive only if its receiver still answers


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
