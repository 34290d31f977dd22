"""Outgoing messages as APIMW reports them: sent now, then delivered and read a moment later (or
failed, for a number ending in 0000), each change an event."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from apimw_cli import catalog
from apimw_cli.sandbox.clock import DELIVERED_AFTER, FAILED_AFTER, READ_AFTER, Clock
from apimw_cli.sandbox.store import Store

# What a failed message carries: WhatsApp's code for a number that is not on WhatsApp.
UNDELIVERABLE = {
    "code": "131026",
    "message": "Message undeliverable: the recipient is not a WhatsApp user",
}

Emit = Callable[[str, dict[str, Any]], tuple[str, int]]


class Outbox:
    def __init__(self, store: Store, clock: Clock, emit: Emit) -> None:
        self.store = store
        self.clock = clock
        self.emit = emit

    def send(self, to: str, text: str) -> dict[str, Any]:
        """Store a message as sent, schedule its later statuses, and emit message.sent."""
        now = self.clock.now()
        message_id = catalog.message_id()
        messages = self.store.messages
        messages.create(message_id, to, text, now)
        if to.endswith("0000"):
            messages.add_timer(now + self.clock.scaled(FAILED_AFTER), message_id, "failed")
        else:
            messages.add_timer(now + self.clock.scaled(DELIVERED_AFTER), message_id, "delivered")
            messages.add_timer(now + self.clock.scaled(READ_AFTER), message_id, "read")
        self.emit("message.sent", {"message_id": message_id, "to": to, "message_type": "text"})
        message = messages.get(message_id)
        assert message is not None
        return message

    def apply_due(self, now: float) -> None:
        """Make the status changes that are due, each with its event."""
        for message_id, status in self.store.messages.pop_due_timers(now):
            message = self.store.messages.get(message_id)
            if message is None:
                continue
            data: dict[str, Any] = {"message_id": message_id, "to": message["to"]}
            error = None
            if status == "failed":
                error = dict(UNDELIVERABLE)
                data["error"] = error
            self.store.messages.set_status(message_id, status, now, error)
            self.emit(f"message.{status}", data)
