"""Sent messages, the timers that move them to delivered, read or failed, and when each customer
last wrote (the 24-hour customer service window)."""

from __future__ import annotations

import json
from typing import Any

from apimw_cli.sandbox.clock import iso
from apimw_cli.sandbox.store.database import Table, locked

STATUS_COLUMNS = {"delivered": "delivered_at", "read": "read_at", "failed": "failed_at"}


class Messages(Table):
    @locked
    def create(
        self, message_id: str, to: str, text: str, now: float, template: str | None = None
    ) -> None:
        """A text, or with `template` (its name) a template message whose `text` is rendered."""
        self.db.execute(
            "INSERT INTO messages (id, to_number, type, text, status, sent_at, template)"
            " VALUES (?, ?, ?, ?, 'sent', ?, ?)",
            (message_id, to, "text" if template is None else "template", text, now, template),
        )

    @locked
    def get(self, message_id: str) -> dict[str, Any] | None:
        """The API's message object, or None when unknown."""
        row = self.db.execute("SELECT * FROM messages WHERE id = ?", (message_id,)).fetchone()
        if row is None:
            return None
        return {
            "message_id": row["id"],
            "to": row["to_number"],
            "type": row["type"],
            "status": row["status"],
            "timestamps": {
                "sent": iso(row["sent_at"]),
                "delivered": iso(row["delivered_at"]),
                "read": iso(row["read_at"]),
            },
            **({"template": row["template"]} if row["template"] else {}),
            **({"error": json.loads(row["error"])} if row["error"] else {}),
        }

    @locked
    def set_status(
        self, message_id: str, status: str, now: float, error: dict[str, str] | None = None
    ) -> None:
        column = STATUS_COLUMNS[status]
        self.db.execute(
            f"UPDATE messages SET status = ?, {column} = ?, error = ? WHERE id = ?",  # noqa: S608
            (status, now, json.dumps(error) if error else None, message_id),
        )

    @locked
    def add_timer(self, due_at: float, message_id: str, status: str) -> None:
        self.db.execute(
            "INSERT INTO timers (due_at, message_id, status) VALUES (?, ?, ?)",
            (due_at, message_id, status),
        )

    @locked
    def pop_due_timers(self, now: float) -> list[tuple[str, str]]:
        """Remove and return the (message_id, status) changes that are due, oldest first."""
        rows = self.db.execute(
            "SELECT seq, message_id, status FROM timers WHERE due_at <= ? ORDER BY due_at, seq",
            (now,),
        ).fetchall()
        if rows:
            self.db.executemany("DELETE FROM timers WHERE seq = ?", [(r["seq"],) for r in rows])
        return [(row["message_id"], row["status"]) for row in rows]

    @locked
    def record_inbound(self, number: str, now: float) -> None:
        """`number` wrote to us: its customer service window opens (again) now."""
        self.db.execute(
            "INSERT INTO contacts (number, last_inbound_at) VALUES (?, ?)"
            " ON CONFLICT (number) DO UPDATE SET last_inbound_at = excluded.last_inbound_at",
            (number, now),
        )

    @locked
    def last_inbound(self, number: str) -> float | None:
        """When `number` last wrote to us, None when it never did."""
        row = self.db.execute(
            "SELECT last_inbound_at FROM contacts WHERE number = ?", (number,)
        ).fetchone()
        return None if row is None else float(row["last_inbound_at"])
