"""The session's self-check: a dead or unreachable tunnel is restarted (and the webhook
re-pointed when its URL changed), and a webhook APIMW disabled is reported once.

The API and tunnel modules are imported when first needed: a session without them (local
receiver only) never loads httpx.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from apimw_cli.errors import ApimwError

if TYPE_CHECKING:
    from apimw_cli.api.client import ApiClient
    from apimw_cli.models import Webhook
    from apimw_cli.output.live import LiveView
    from apimw_cli.tunnel import Tunnel

__all__ = ["Watchdog"]


class Watchdog:
    """Keeps the session healthy: restarts a dead tunnel and re-points the registration, and
    reports a registration APIMW disabled. Cheap enough to call on every loop turn."""

    TUNNEL_EVERY = 1.0  # is the agent process alive?
    SELF_CHECK_EVERY = 15.0  # does a request through the public URL reach us?
    WEBHOOK_EVERY = 15.0  # has APIMW disabled the registration?

    def __init__(
        self,
        tunnel: Tunnel | None,
        client: ApiClient | None,
        webhook: Webhook | None,
        path: str,
        view: LiveView,
        probe_token: str | None = None,
    ) -> None:
        self.tunnel = tunnel
        self.client = client
        self.webhook = webhook
        self.path = path
        self.view = view
        self.probe_token = probe_token  # the receiver's: it does not report our self-checks
        now = time.monotonic()
        self._next_tunnel = now + self.TUNNEL_EVERY
        self._next_self_check = now + self.SELF_CHECK_EVERY
        self._next_webhook = now + self.WEBHOOK_EVERY
        self._reported_disabled = False

    def check(self) -> None:
        now = time.monotonic()
        if self.tunnel is not None:
            self._check_tunnel(self.tunnel, now)
        if self.client is not None and self.webhook is not None and now >= self._next_webhook:
            self._next_webhook = now + self.WEBHOOK_EVERY
            self._check_webhook(self.client, self.webhook)

    def _check_tunnel(self, tunnel: Tunnel, now: float) -> None:
        if now >= self._next_tunnel:
            self._next_tunnel = now + self.TUNNEL_EVERY
            if not tunnel.alive():
                self._heal(tunnel)
        if now >= self._next_self_check:
            from apimw_cli.tunnel import answers

            self._next_self_check = now + self.SELF_CHECK_EVERY
            public = tunnel.public_url
            url = public.rstrip("/") + self.path if public else None
            if url and not answers(url, probe_token=self.probe_token):
                self._heal(tunnel)

    def _heal(self, tunnel: Tunnel) -> None:
        old = tunnel.public_url
        self.view.tunnel("down", "the tunnel stopped answering: restarting it", public_url=old)
        try:
            public = tunnel.restart()
        except ApimwError as exc:
            self.view.tunnel("failed", f"could not restart the tunnel: {exc.message}")
            return
        self.view.tunnel("restarted", f"tunnel back: {public}", public_url=public)
        if public != old and self.client is not None and self.webhook is not None:
            self._repoint(self.client, self.webhook, public.rstrip("/") + self.path, public)

    def _repoint(self, client: ApiClient, webhook: Webhook, url: str, public: str) -> None:
        from apimw_cli.api import webhooks

        try:
            webhooks.update(client, webhook.id, {"url": url})
            self.view.note(f"re-pointed webhook {webhook.id} at {url}", public_url=public)
        except ApimwError as exc:
            self.view.note(f"could not re-point webhook {webhook.id}: {exc.message}")

    def _check_webhook(self, client: ApiClient, webhook: Webhook) -> None:
        from apimw_cli.api import webhooks

        try:
            current = webhooks.get(client, webhook.id)
        except ApimwError:
            return  # a passing API problem: check again later
        if not current.active and not self._reported_disabled:
            self._reported_disabled = True
            reason = current.disabled_reason or "no reason given"
            self.view.note(
                f"APIMW disabled webhook {current.id}: {reason}. Fix the endpoint, then "
                f"`apimw webhooks enable {current.id}`",
                webhook="disabled",
            )
