"""`apimw sandbox --demo`: steady, realistic traffic so a newcomer sees events at once.

It keeps WhatsApp's 24-hour rule as a real business must: conversations open with a template,
customers reply, and texts go only to customers whose window is open.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

from apimw_cli import catalog
from apimw_cli.sandbox.worker import DeliveryWorker

logger = logging.getLogger(__name__)
INTERVAL = 3.0  # seconds between two bursts of traffic
_FAILING = "+14155550000"  # numbers ending in 0000 fail on purpose
_TEMPLATES = (
    ("order_confirmation", "Hi {name}, your order ORD-4821 has been confirmed. Total: $42.50"),
    ("shipping_update", "Hi {name}, your order is on its way! Tracking number: 1Z999AA1012"),
    (
        "appointment_reminder",
        "Hi {name}, this is a reminder of your appointment on May 3 at 10:30.",
    ),
)
_TEXTS = (
    "Your order #4821 has shipped 📦",
    "Your appointment is confirmed for 10:30",
    "Happy to help! Anything else?",
)


def _customer(rng: random.Random) -> dict[str, Any]:
    """A customer's message: who they are and what they wrote (catalog sample data)."""
    return catalog.sample_data("message.received", rng)


def _turn(worker: DeliveryWorker, rng: random.Random) -> None:
    """One piece of traffic: a template, a customer's reply, a text in an open window, or now
    and then a quota warning."""
    roll = rng.random()
    customer = _customer(rng)
    number, name = customer["from"], customer["contact"]["name"].split()[0]
    if roll < 0.35:
        to = _FAILING if rng.random() < 0.15 else number
        template, text = rng.choice(_TEMPLATES)
        worker.send_message(to, text.format(name=name), template=template)
    elif roll < 0.65:
        worker.receive_message(customer)
    elif roll < 0.93:
        if worker.outbox.window_open(number, worker.clock.now()):
            worker.send_message(number, rng.choice(_TEXTS))
        else:  # the window is closed: reopen the conversation with a template instead
            template, text = rng.choice(_TEMPLATES)
            worker.send_message(number, text.format(name=name), template=template)
    else:
        worker.emit("quota.warning", catalog.sample_data("quota.warning", rng))


async def _traffic(worker: DeliveryWorker, rng: random.Random) -> None:
    while True:
        try:
            _turn(worker, rng)
        except Exception as exc:  # one failed turn is said; the traffic goes on
            logger.error("sandbox demo: a turn failed: %s: %s", exc.__class__.__name__, exc)
        await asyncio.sleep(INTERVAL * rng.uniform(0.6, 1.4))


def start_demo(worker: DeliveryWorker, seed: int | None = None) -> asyncio.Task[None]:
    task = asyncio.create_task(_traffic(worker, random.Random(seed)), name="apimw-sandbox-demo")
    task.add_done_callback(_report)
    return task


def _report(task: asyncio.Task[None]) -> None:
    """The demo ended other than by its cancellation: say why (never "Task exception was
    never retrieved", late or not at all)."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        logger.error("sandbox demo stopped: %r", exc, exc_info=exc)
