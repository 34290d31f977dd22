"""Sandbox-only calls: is one up, and demo traffic for `apimw listen --sandbox --demo`
(outgoing messages with their status events, customer replies, the occasional failure). The
traffic goes through the API, so it works with any sandbox, started by us or not."""

from __future__ import annotations

import random
import threading

from apimw_cli import catalog
from apimw_cli.api.client import ApiClient
from apimw_cli.errors import ApimwError

INTERVAL = 3.0


def is_up(base_url: str, timeout: float = 1.0) -> bool:
    """Does a sandbox answer at `base_url`? (Its health endpoint needs no credentials.)"""
    import httpx

    try:
        response = httpx.get(f"{base_url}/sandbox/health", timeout=timeout, trust_env=False)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


_RECIPIENTS = ("+14155550123", "+4915205550172", "+5511955501234", "+919820055512")
_FAILING = "+14155550000"  # the sandbox fails numbers ending in 0000
_TEXTS = ("Your order #4821 has shipped 📦", "Your appointment is at 10:30", "Your code is 482913")


def run_demo(client: ApiClient, stop: threading.Event, seed: int | None = None) -> None:
    """Make traffic until `stop` is set. API errors are skipped: demo traffic is best effort."""
    rng = random.Random(seed)
    while not stop.wait(INTERVAL * rng.uniform(0.6, 1.4)):
        try:
            if rng.random() < 0.55:
                to = _FAILING if rng.random() < 0.15 else rng.choice(_RECIPIENTS)
                body = {"to": to, "message": rng.choice(_TEXTS)}
                client.request("POST", "whatsapp/messages/send", json_body=body)
            else:
                data = catalog.sample_data("message.received", rng)
                body = {"from": data["from"], "text": data["text"], "name": data["contact"]["name"]}
                client.request("POST", "sandbox/inbound", json_body=body)
        except ApimwError:
            continue
