"""Registered webhooks, as the API shows them (never their secret)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import orjson

from apimw_cli.sandbox.clock import iso
from apimw_cli.sandbox.store.database import PENDING, SENDING, Table, locked, new_id

# What PATCH may change; each is a column of the same name ("events" holds JSON).
CHANGEABLE = frozenset({"url", "events", "secret", "active", "description"})


class Webhooks(Table):
    @locked
    def create(
        self,
        *,
        url: str,
        events: list[str],
        secret: str | None,
        active: bool,
        description: str | None,
        now: float,
    ) -> dict[str, Any]:
        webhook_id = new_id("whk")
        self.db.execute(
            "INSERT INTO webhooks (id, url, events, secret, active, description, created_at,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (webhook_id, url, json.dumps(events), secret, int(active), description, now, now),
        )
        row = self.db.execute("SELECT * FROM webhooks WHERE id = ?", (webhook_id,)).fetchone()
        return _webhook(row)

    @locked
    def get(self, webhook_id: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM webhooks WHERE id = ?", (webhook_id,)).fetchone()
        return None if row is None else _webhook(row)

    @locked
    def all(self) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT * FROM webhooks ORDER BY seq").fetchall()
        return [_webhook(row) for row in rows]

    @locked
    def update(self, webhook_id: str, changes: dict[str, Any], now: float) -> None:
        """Apply a PATCH; re-enabling resets the failures, a new url the verification."""
        sets: list[str] = ["updated_at = ?"]
        values: list[Any] = [now]
        for key, value in changes.items():
            if key not in CHANGEABLE:
                raise ValueError(f"not a changeable webhook field: {key!r}")
            sets.append(f"{key} = ?")
            values.append(json.dumps(value) if key == "events" else value)
        if changes.get("active") is True:
            sets += ["failure_count = 0", "disabled_reason = NULL"]
        if "url" in changes:
            sets += ["verified = NULL", "verification_error = NULL"]
        self.db.execute(
            f"UPDATE webhooks SET {', '.join(sets)} WHERE id = ?",  # noqa: S608 - fixed columns
            (*values, webhook_id),
        )

    @locked
    def delete(self, webhook_id: str) -> bool:
        """Delete a webhook and the deliveries still waiting for it; False when unknown."""
        with self.database.transaction() as db:
            gone = db.execute("DELETE FROM webhooks WHERE id = ?", (webhook_id,)).rowcount == 1
            db.execute(
                "DELETE FROM deliveries WHERE webhook_id = ? AND state IN (?, ?)",
                (webhook_id, PENDING, SENDING),
            )
        return gone

    @locked
    def set_verification(
        self, webhook_id: str, url: str, verified: bool, error: str | None
    ) -> bool:
        """Record the challenge's outcome for `url`; False when the webhook is gone or has
        another url by now (its own verification is under way)."""
        changed = self.db.execute(
            "UPDATE webhooks SET verified = ?, verification_error = ? WHERE id = ? AND url = ?",
            (int(verified), error, webhook_id, url),
        ).rowcount
        return bool(changed == 1)

    @locked
    def secret(self, webhook_id: str) -> str | None:
        row = self.db.execute("SELECT secret FROM webhooks WHERE id = ?", (webhook_id,)).fetchone()
        return None if row is None else row["secret"]


def _webhook(row: sqlite3.Row) -> dict[str, Any]:
    """The API's webhook object; never the secret."""
    return {
        "id": row["id"],
        "url": row["url"],
        "events": orjson.loads(row["events"]),
        "active": bool(row["active"]),
        "description": row["description"],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
        "verified": None if row["verified"] is None else bool(row["verified"]),
        "verification_error": row["verification_error"],
        "failure_count": row["failure_count"],
        "disabled_reason": row["disabled_reason"],
        "last_delivery_at": iso(row["last_delivery_at"]),
        "last_delivery_status": row["last_delivery_status"],
        "has_secret": row["secret"] is not None,
    }
