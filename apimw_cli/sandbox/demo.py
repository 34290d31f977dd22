"""`apimw sandbox --demo`: steady, realistic traffic so a newcomer sees events at once."""

from __future__ import annotations

import asyncio
import random

from apimw_cli import catalog
from apimw_cli.sandbox.delivery import DeliveryWorker

INTERVAL = 3.0  # seconds between two bursts of traffic
_RECIPIENTS = ("+14155550123", "+4915205550172", "+5511955501234", "+919820055512")
_FAILING = "+14155550000"  # numbers ending in 0000 fail on purpose


async def _traffic(worker: DeliveryWorker, rng: random.Random) -> None:
    texts = (
        "Your order #4821 has shipped 📦",
        "Your appointment is confirmed for 10:30",
        "Your code is 482913",
    )
    while True:
        roll = rng.random()
        if roll < 0.5:
            to = _FAILING if rng.random() < 0.15 else rng.choice(_RECIPIENTS)
            worker.send_message(to, rng.choice(texts))
        elif roll < 0.9:
            worker.emit("message.received", catalog.sample_data("message.received", rng))
        else:
            worker.emit("quota.warning", catalog.sample_data("quota.warning", rng))
        await asyncio.sleep(INTERVAL * rng.uniform(0.6, 1.4))


def start_demo(worker: DeliveryWorker, seed: int | None = None) -> asyncio.Task[None]:
    return asyncio.create_task(_traffic(worker, random.Random(seed)), name="apimw-sandbox-demo")
