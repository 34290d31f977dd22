"""Outgoing messages as APIMW reports them: sent now, then delivered and read a moment later (or
failed), each change an event.

A message fails for a number ending in 0000 (not on WhatsApp), and a text fails outside the
24-hour customer service window: when the customer never wrote, or last wrote more than 24 h
ago (divided by time_scale). WhatsApp accepts such a text and then fails it with 131047; templates
are never held to the window. Inbound messages (`inbound`) open the window.
"""

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
# WhatsApp's code for a text outside the customer service window (its title and details).
REENGAGEMENT = {
    "code": "131047",
    "message": "Re-engagement message: more than 24 hours have passed since the recipient last"
    " replied to the sender number",
}
SERVICE_WINDOW = 24 * 3600.0  # seconds, before time_scale

Emit = Callable[[str, dict[str, Any]], tuple[str, int]]


class Outbox:
    def __init__(self, store: Store, clock: Clock, emit: Emit, *, window: bool = True) -> None:
        self.store = store
        self.clock = clock
        self.emit = emit
        self.window = window  # False: texts are delivered whenever the customer last wrote

    def send(self, to: str, text: str, *, template: str | None = None) -> dict[str, Any]:
        """Store a message (a text, or a template called `template` whose body is `text`) as
        sent, schedule its later statuses, and emit message.sent."""
        now = self.clock.now()
        message_id = catalog.message_id()
        messages = self.store.messages
        messages.create(message_id, to, text, now, template)
        if to.endswith("0000") or (template is None and not self.window_open(to, now)):
            messages.add_timer(now + self.clock.scaled(FAILED_AFTER), message_id, "failed")
        else:
            messages.add_timer(now + self.clock.scaled(DELIVERED_AFTER), message_id, "delivered")
            messages.add_timer(now + self.clock.scaled(READ_AFTER), message_id, "read")
        kind = "text" if template is None else "template"
        self.emit("message.sent", {"message_id": message_id, "to": to, "message_type": kind})
        message = messages.get(message_id)
        assert message is not None
        return message

    def window_open(self, number: str, now: float) -> bool:
        """May a text go to `number` now? (Always, with the window rule off.)"""
        if not self.window:
            return True
        last = self.store.messages.last_inbound(number)
        return last is not None and now - last <= self.clock.scaled(SERVICE_WINDOW)

    def inbound(self, data: dict[str, Any]) -> tuple[str, int]:
        """A customer's message (message.received data): it opens their window, then its event
        goes out."""
        sender = data.get("from")
        if isinstance(sender, str) and sender:
            self.store.messages.record_inbound(sender, self.clock.now())
        return self.emit("message.received", data)

    def apply_due(self, now: float) -> None:
        """Make the status changes that are due, each with its event."""
        for message_id, status in self.store.messages.pop_due_timers(now):
            message = self.store.messages.get(message_id)
            if message is None:
                continue
            data: dict[str, Any] = {"message_id": message_id, "to": message["to"]}
            error = None
            if status == "failed":
                error = dict(UNDELIVERABLE if message["to"].endswith("0000") else REENGAGEMENT)
                data["error"] = error
            self.store.messages.set_status(message_id, status, now, error)
            self.emit(f"message.{status}", data)
