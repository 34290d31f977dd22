"""Sandbox-only calls: is one up, and demo traffic for `apimw listen --sandbox --demo`
(outgoing messages with their status events, customer replies, the occasional failure). The
traffic goes through the API, so it works with any sandbox, started by us or not. It keeps
WhatsApp's 24-hour rule: conversations open with a template, and texts go only to customers
who wrote during this run."""

from __future__ import annotations

import random
import threading

from apimw_cli import catalog
from apimw_cli.api.client import ApiClient
from apimw_cli.errors import ApimwError

INTERVAL = 3.0


def is_up(base_url: str, timeout: float = 1.0) -> bool:
    """Does a sandbox answer at `base_url`? (Its health endpoint needs no credentials.)"""
    from apimw_cli.api.transport import httpx, transport_for

    url = f"{base_url}/sandbox/health"
    try:
        with httpx.Client(timeout=timeout, trust_env=False, transport=transport_for(url)) as client:
            response = client.get(url)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


_RECIPIENTS = ("+14155550123", "+4915205550172", "+5511955501234", "+919820055512")
_FAILING = "+14155550000"  # the sandbox fails numbers ending in 0000
_TEXTS = ("Your order #4821 has shipped 📦", "Your appointment is at 10:30", "Your code is 482913")
# Seeded sandbox templates (docs/apimw-api.md, "Templates") and their body parameters.
_TEMPLATES = (
    ("order_confirmation", ["Maria", "ORD-4821", "$42.50"]),
    ("shipping_update", ["Maria", "1Z999AA10"]),
    ("appointment_reminder", ["Maria", "May 3", "10:30"]),
)


def _template(to: str, rng: random.Random) -> dict[str, object]:
    name, params = rng.choice(_TEMPLATES)
    parameters = [{"type": "text", "text": value} for value in params]
    return {
        "to": to,
        "template": name,
        "language": "en",
        "components": [{"type": "body", "parameters": parameters}],
    }


def run_demo(client: ApiClient, stop: threading.Event, seed: int | None = None) -> None:
    """Make traffic until `stop` is set. API errors are skipped: demo traffic is best effort."""
    rng = random.Random(seed)
    wrote: set[str] = set()  # customers whose 24-hour window this run opened
    while not stop.wait(INTERVAL * rng.uniform(0.6, 1.4)):
        try:
            if rng.random() < 0.55:
                to = _FAILING if rng.random() < 0.15 else rng.choice(_RECIPIENTS)
                if to in wrote:
                    body = {"to": to, "message": rng.choice(_TEXTS)}
                    client.request("POST", "whatsapp/messages/send", json_body=body)
                else:
                    client.request(
                        "POST", "whatsapp/messages/template", json_body=_template(to, rng)
                    )
            else:
                data = catalog.sample_data("message.received", rng)
                body = {"from": data["from"], "text": data["text"], "name": data["contact"]["name"]}
                client.request("POST", "sandbox/inbound", json_body=body)
                wrote.add(data["from"])
        except ApimwError:
            continue
