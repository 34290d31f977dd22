"""The webhook a listen session receives through, and the clean-up after it.

Either a temporary webhook registered for the session (deleted at its end; its URL carries the
session's marker and this machine keeps a record of it, session/records.py, so the next session
can remove it if this one crashed) or an existing webhook pointed at the session for its
duration (`--webhook`, restored at its end). Clean-up never raises: a failure is said on the
live view, and the session still ends normally.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from apimw_cli.api import webhooks
from apimw_cli.errors import ApimwError, NotFoundError
from apimw_cli.protocol import VERIFICATION_WAIT
from apimw_cli.session import records
from apimw_cli.session.records import Owner

if TYPE_CHECKING:
    from apimw_cli.api.client import ApiClient
    from apimw_cli.models import Webhook
    from apimw_cli.output.live import LiveView

__all__ = [
    "LEGACY_MARKER",
    "prune_stale",
    "register_temporary",
    "repoint",
    "report_verification",
    "restore",
    "unregister",
]

# How earlier versions marked a temporary webhook: by its description alone (a field APIMW
# does not document). Still recognised, so their leftovers are cleaned up too.
LEGACY_MARKER = "apimw listen (temporary)"


def register_temporary(
    client: ApiClient,
    url: str,
    events: list[str],
    secret: str,
    owner: Owner,
    debug: Callable[[str], None] | None = None,
) -> Webhook:
    """A webhook at `url` (which carries the session's marker), recorded on this machine.

    The description is for humans in APIMW's console only: APIMW does not document it, so an
    API that refuses it gets the registration again without it (said under `--debug`)."""
    session = records.session_of(url)
    assert session is not None, "a temporary webhook's URL carries the session marker"
    description = f"{LEGACY_MARKER} host={socket.gethostname()} pid={os.getpid()} session={session}"
    webhook = webhooks.create(
        client,
        url=url,
        events=events,
        secret=secret,
        optional={"description": description},
        note=debug,
    )
    record = records.Record.now(session, webhook.id, url, owner.api_base, owner.profile)
    try:
        records.save(record)
    except OSError as exc:  # the webhook works; only a crash's clean-up is less sure
        if debug is not None:
            debug(f"could not record temporary webhook {webhook.id} locally: {exc}")
    return webhook


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


def unregister(client: ApiClient, webhook: Webhook, view: LiveView) -> None:
    """Delete the session's webhook, then its local record (kept when the delete failed, so
    the next session knows the webhook is stale without asking the network)."""
    try:
        webhooks.delete(client, webhook.id)
        view.note(f"deleted temporary webhook {webhook.id}")
    except NotFoundError:
        view.note(f"temporary webhook {webhook.id} was already gone")
    except ApimwError as exc:
        view.note(f"could not delete temporary webhook {webhook.id}: {exc.message}")
        return
    session = records.session_of(webhook.url)
    if session is not None:
        records.remove(session)


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


def prune_stale(client: ApiClient, view: LiveView, owner: Owner) -> None:
    """Delete temporary webhooks left by crashed `listen` sessions (every page of the list),
    and forget this machine's records of webhooks that no longer exist (and of other APIs'
    webhooks whose owner died more than RECORD_TTL ago)."""
    listed = webhooks.list_webhooks(client)
    every = records.load_all()
    mine = [r for r in every if (r.api_base, r.profile) == (owner.api_base, owner.profile)]
    for other in every:
        if other not in mine and other.abandoned(time.time()):
            records.remove(other.session)  # another API's, long dead: its URL check suffices
    by_id = {r.webhook_id: r for r in mine}
    by_session = {r.session: r for r in mine}
    for webhook in listed:
        session = records.session_of(webhook.url)
        if session is not None:
            record = by_id.get(webhook.id) or by_session.get(session)
            stale = _stale(record, webhook.url)
        elif (webhook.description or "").startswith(LEGACY_MARKER):
            record, stale = None, _legacy_stale(webhook.description or "", webhook.url)
        else:
            continue
        if stale and _delete_stale(client, webhook, view) and record is not None:
            records.remove(record.session)
    existing = {w.id for w in listed}
    for record in mine:
        if record.webhook_id not in existing and record.owner_alive() is not True:
            records.remove(record.session)


def _delete_stale(client: ApiClient, webhook: Webhook, view: LiveView) -> bool:
    try:
        webhooks.delete(client, webhook.id)
    except NotFoundError:
        return True  # another session pruned it first
    except ApimwError as exc:
        view.note(f"could not remove stale webhook {webhook.id}: {exc.message}")
        return False
    view.note(f"removed stale temporary webhook {webhook.id} ({webhook.url})")
    return True


def _stale(record: records.Record | None, url: str) -> bool:
    """A crashed session's: its owner is dead on this host, or (another machine's, or its
    record was lost) its URL no longer answers."""
    alive = record.owner_alive() if record is not None else None
    if alive is not None:
        return not alive
    from apimw_cli.tunnel import answers  # httpx: only when there is a webhook to judge

    return not answers(url, exact_path=True)


def _legacy_stale(description: str, url: str) -> bool:
    """An earlier version's webhook: its description names host and pid."""
    fields = dict(part.split("=", 1) for part in description.split() if "=" in part)
    pid = fields.get("pid", "")
    if fields.get("host") == socket.gethostname() and pid.isdigit():
        return not records.pid_alive(int(pid))
    from apimw_cli.tunnel import answers

    return not answers(url)
