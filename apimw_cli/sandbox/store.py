"""The sandbox's state in SQLite: webhooks, tokens, events, deliveries, messages, timers.

One connection, used from the server's event loop only. Every write commits at once (WAL,
synchronous=NORMAL), so a restart finds pending retries and message timers where they were.
"""

from __future__ import annotations

import functools
import json
import secrets
import sqlite3
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

from apimw_cli.sandbox.clock import iso

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS webhooks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    secret TEXT,
    active INTEGER NOT NULL,
    description TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    verified INTEGER,
    verification_error TEXT,
    failure_count INTEGER NOT NULL DEFAULT 0,
    disabled_reason TEXT,
    last_delivery_at REAL,
    last_delivery_status INTEGER
);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    token TEXT PRIMARY KEY, expires_at REAL NOT NULL, spent INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS revoked_tokens (jti TEXT PRIMARY KEY, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY, type TEXT NOT NULL, body BLOB NOT NULL, created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL,
    webhook_id TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL,
    next_at REAL
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (state, next_at);
CREATE TABLE IF NOT EXISTS attempts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id TEXT NOT NULL,
    webhook_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    status_code INTEGER,
    error TEXT,
    duration_ms INTEGER NOT NULL,
    delivered_at REAL NOT NULL,
    next_retry_at REAL
);
CREATE INDEX IF NOT EXISTS attempts_webhook ON attempts (webhook_id, seq);
CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY,
    to_number TEXT NOT NULL,
    type TEXT NOT NULL,
    text TEXT NOT NULL,
    status TEXT NOT NULL,
    sent_at REAL NOT NULL,
    delivered_at REAL,
    read_at REAL,
    failed_at REAL,
    error TEXT
);
CREATE TABLE IF NOT EXISTS timers (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    due_at REAL NOT NULL,
    message_id TEXT NOT NULL,
    status TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS timers_due ON timers (due_at);
"""

# A delivery is pending (due at next_at), sending (an attempt is in flight), delivered or failed.
PENDING, SENDING, DELIVERED, FAILED = "pending", "sending", "delivered", "failed"

F = TypeVar("F", bound=Callable[..., Any])


class FairLock:
    """A first-come, first-served lock.

    threading.Lock is not fair: the delivery thread, which releases and retakes the store
    hundreds of times a second, kept winning it back while an API request waited (up to
    ~150 ms). Tickets make each waiter's turn come after at most the current holder.
    Not reentrant: locked methods never call each other.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._next_ticket = 0
        self._serving = 0

    def __enter__(self) -> None:
        with self._cond:
            ticket = self._next_ticket
            self._next_ticket += 1
            while self._serving != ticket:
                self._cond.wait()

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._serving += 1
            self._cond.notify_all()


def _locked(method: F) -> F:
    """One connection, two threads (the API's loop and the delivery worker's): take turns."""

    @functools.wraps(method)
    def wrapper(self: Store, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return cast(F, wrapper)


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


@dataclass(frozen=True)
class DueDelivery:
    """A delivery whose next attempt is due, with all it needs to be sent."""

    id: str
    event_id: str
    event_type: str
    body: bytes
    webhook_id: str
    url: str
    secret: str | None
    attempts: int


@dataclass(frozen=True)
class AttemptOutcome:
    attempt: int
    next_at: float | None
    disabled_reason: str | None


class Store:
    def __init__(self, path: Path | None) -> None:
        self._lock = FairLock()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(
            ":memory:" if path is None else str(path),
            check_same_thread=False,
            isolation_level=None,  # autocommit; multi-statement changes use explicit transactions
        )
        self.db.row_factory = sqlite3.Row
        if path is not None:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        # Attempts cut short by a stop or a crash are sent again: deliveries are at least once.
        self.db.execute("UPDATE deliveries SET state = ? WHERE state = ?", (PENDING, SENDING))

    @_locked
    def close(self) -> None:
        self.db.close()

    def _tx(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    # --- meta ---
    @_locked
    def signing_key(self) -> bytes:
        """The key that signs access tokens; kept, so tokens survive a restart."""
        row = self.db.execute("SELECT value FROM meta WHERE key = 'jwt_key'").fetchone()
        if row is None:
            key = secrets.token_hex(32)
            self.db.execute("INSERT INTO meta (key, value) VALUES ('jwt_key', ?)", (key,))
            return bytes.fromhex(key)
        return bytes.fromhex(row["value"])

    # --- tokens ---
    @_locked
    def add_refresh_token(self, token: str, expires_at: float) -> None:
        self.db.execute(
            "INSERT INTO refresh_tokens (token, expires_at) VALUES (?, ?)", (token, expires_at)
        )

    @_locked
    def spend_refresh_token(self, token: str, now: float) -> bool:
        """Mark a refresh token used; False when unknown, spent or expired (single use)."""
        cursor = self.db.execute(
            "UPDATE refresh_tokens SET spent = 1 WHERE token = ? AND spent = 0 AND expires_at > ?",
            (token, now),
        )
        return cursor.rowcount == 1

    @_locked
    def revoke_token(self, jti: str, expires_at: float) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO revoked_tokens (jti, expires_at) VALUES (?, ?)",
            (jti, expires_at),
        )

    @_locked
    def is_revoked(self, jti: str) -> bool:
        row = self.db.execute("SELECT 1 FROM revoked_tokens WHERE jti = ?", (jti,)).fetchone()
        return row is not None

    # --- webhooks ---
    @_locked
    def create_webhook(
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

    @_locked
    def get_webhook(self, webhook_id: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM webhooks WHERE id = ?", (webhook_id,)).fetchone()
        return None if row is None else _webhook(row)

    @_locked
    def list_webhooks(self) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT * FROM webhooks ORDER BY seq").fetchall()
        return [_webhook(row) for row in rows]

    @_locked
    def update_webhook(self, webhook_id: str, changes: dict[str, Any], now: float) -> None:
        columns = {
            "url": "url",
            "events": "events",
            "secret": "secret",
            "active": "active",
            "description": "description",
        }
        sets: list[str] = ["updated_at = ?"]
        values: list[Any] = [now]
        for key, value in changes.items():
            sets.append(f"{columns[key]} = ?")
            values.append(json.dumps(value) if key == "events" else value)
        if changes.get("active") is True:
            sets += ["failure_count = 0", "disabled_reason = NULL"]
        if "url" in changes:
            sets += ["verified = NULL", "verification_error = NULL"]
        self.db.execute(
            f"UPDATE webhooks SET {', '.join(sets)} WHERE id = ?",  # noqa: S608 - fixed columns
            (*values, webhook_id),
        )

    @_locked
    def delete_webhook(self, webhook_id: str) -> bool:
        db = self._tx()
        try:
            gone = db.execute("DELETE FROM webhooks WHERE id = ?", (webhook_id,)).rowcount == 1
            db.execute(
                "DELETE FROM deliveries WHERE webhook_id = ? AND state IN (?, ?)",
                (webhook_id, PENDING, SENDING),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return gone

    @_locked
    def set_verification(self, webhook_id: str, verified: bool, error: str | None) -> None:
        self.db.execute(
            "UPDATE webhooks SET verified = ?, verification_error = ? WHERE id = ?",
            (int(verified), error, webhook_id),
        )

    @_locked
    def webhook_secret(self, webhook_id: str) -> str | None:
        row = self.db.execute("SELECT secret FROM webhooks WHERE id = ?", (webhook_id,)).fetchone()
        return None if row is None else row["secret"]

    # --- events and deliveries ---
    @_locked
    def enqueue_event(self, event_type: str, body: bytes, now: float) -> tuple[str, int]:
        """Store an event and a delivery for each active webhook subscribed to its type."""
        event_id = new_id("evt")
        targets = [
            row["id"]
            for row in self.db.execute("SELECT id, events FROM webhooks WHERE active = 1")
            if event_type in json.loads(row["events"])
        ]
        db = self._tx()
        try:
            db.execute(
                "INSERT INTO events (id, type, body, created_at) VALUES (?, ?, ?, ?)",
                (event_id, event_type, body, now),
            )
            db.executemany(
                "INSERT INTO deliveries (id, event_id, webhook_id, state, next_at)"
                " VALUES (?, ?, ?, ?, ?)",
                [(new_id("dlv"), event_id, target, PENDING, now) for target in targets],
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return event_id, len(targets)

    @_locked
    def claim_due(
        self, now: float, limit: int, *, exclude_webhooks: Collection[str] = ()
    ) -> list[DueDelivery]:
        """Due attempts, oldest first, marked as sending (so the next call skips them).

        Deliveries of inactive webhooks wait; `exclude_webhooks` are those with no free slot.
        """
        not_in = ""
        params: list[Any] = [PENDING, now]
        if exclude_webhooks:
            not_in += f" AND d.webhook_id NOT IN ({','.join('?' * len(exclude_webhooks))})"
            params.extend(exclude_webhooks)
        sql = (
            "SELECT d.id, d.event_id, d.webhook_id, d.attempts, e.type, e.body, w.url, w.secret"  # noqa: S608 - only placeholders are interpolated
            " FROM deliveries d JOIN events e ON e.id = d.event_id"
            " JOIN webhooks w ON w.id = d.webhook_id"
            f" WHERE d.state = ? AND d.next_at <= ? AND w.active = 1{not_in}"
            " ORDER BY d.next_at LIMIT ?"
        )
        rows = self.db.execute(sql, (*params, limit)).fetchall()
        if rows:
            self.db.executemany(
                "UPDATE deliveries SET state = ? WHERE id = ?", [(SENDING, r["id"]) for r in rows]
            )
        return [
            DueDelivery(
                id=row["id"],
                event_id=row["event_id"],
                event_type=row["type"],
                body=bytes(row["body"]),
                webhook_id=row["webhook_id"],
                url=row["url"],
                secret=row["secret"],
                attempts=row["attempts"],
            )
            for row in rows
        ]

    @_locked
    def release(self, delivery_id: str) -> None:
        """Put a claimed delivery back, unattempted."""
        self.db.execute(
            "UPDATE deliveries SET state = ? WHERE id = ? AND state = ?",
            (PENDING, delivery_id, SENDING),
        )

    @_locked
    def next_due_at(self) -> float | None:
        """When the next delivery or timer is due (index lookups only: called often)."""
        due = self.db.execute(
            "SELECT MIN(next_at) AS t FROM deliveries WHERE state = ?", (PENDING,)
        ).fetchone()["t"]
        timer = self.db.execute("SELECT MIN(due_at) AS t FROM timers").fetchone()["t"]
        candidates = [t for t in (due, timer) if t is not None]
        return min(candidates) if candidates else None

    @_locked
    def record_attempt(
        self,
        delivery: DueDelivery,
        *,
        status_code: int | None,
        error: str | None,
        duration_ms: int,
        now: float,
        retry_in: float | None,
    ) -> AttemptOutcome:
        """Store one attempt and its consequences: next retry, or the webhook disabled.

        `error` None means success; `retry_in` None after a failure means attempts are exhausted.
        """
        attempt = delivery.attempts + 1
        success = error is None
        next_at = None if success or retry_in is None else now + retry_in
        disabled_reason = None
        if not success and retry_in is None:
            disabled_reason = (
                f"disabled after {attempt} failed attempts to deliver {delivery.event_type} "
                f"({delivery.event_id}); last error: {error}"
            )
        db = self._tx()
        try:
            db.execute(
                "UPDATE deliveries SET attempts = ?, state = ?, next_at = ? WHERE id = ?",
                (
                    attempt,
                    DELIVERED if success else PENDING if next_at is not None else FAILED,
                    next_at,
                    delivery.id,
                ),
            )
            db.execute(
                "INSERT INTO attempts (delivery_id, webhook_id, event_id, event_type, attempt,"
                " status_code, error, duration_ms, delivered_at, next_retry_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    delivery.id,
                    delivery.webhook_id,
                    delivery.event_id,
                    delivery.event_type,
                    attempt,
                    status_code,
                    error,
                    duration_ms,
                    now,
                    next_at,
                ),
            )
            db.execute(
                "UPDATE webhooks SET last_delivery_at = ?, last_delivery_status = ?,"
                " failure_count = CASE WHEN ? THEN 0 ELSE failure_count + 1 END WHERE id = ?",
                (now, status_code, success, delivery.webhook_id),
            )
            if disabled_reason is not None:
                db.execute(
                    "UPDATE webhooks SET active = 0, disabled_reason = ?, updated_at = ?"
                    " WHERE id = ?",
                    (disabled_reason, now, delivery.webhook_id),
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return AttemptOutcome(attempt, next_at, disabled_reason)

    @_locked
    def list_attempts(self, webhook_id: str, limit: int = 100) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT * FROM attempts WHERE webhook_id = ? ORDER BY seq DESC LIMIT ?",
            (webhook_id, limit),
        ).fetchall()
        return [
            {
                "id": row["delivery_id"],
                "event_id": row["event_id"],
                "event_type": row["event_type"],
                "attempt": row["attempt"],
                "status_code": row["status_code"],
                "error": row["error"],
                "duration_ms": row["duration_ms"],
                "delivered_at": iso(row["delivered_at"]),
                "next_retry_at": iso(row["next_retry_at"]),
            }
            for row in rows
        ]

    # --- messages and their status timers ---
    @_locked
    def create_message(self, message_id: str, to: str, text: str, now: float) -> None:
        self.db.execute(
            "INSERT INTO messages (id, to_number, type, text, status, sent_at)"
            " VALUES (?, ?, 'text', ?, 'sent', ?)",
            (message_id, to, text, now),
        )

    @_locked
    def get_message(self, message_id: str) -> dict[str, Any] | None:
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
            **({"error": json.loads(row["error"])} if row["error"] else {}),
        }

    @_locked
    def set_message_status(
        self, message_id: str, status: str, now: float, error: dict[str, str] | None = None
    ) -> None:
        column = {"delivered": "delivered_at", "read": "read_at", "failed": "failed_at"}[status]
        self.db.execute(
            f"UPDATE messages SET status = ?, {column} = ?, error = ? WHERE id = ?",  # noqa: S608
            (status, now, json.dumps(error) if error else None, message_id),
        )

    @_locked
    def add_timer(self, due_at: float, message_id: str, status: str) -> None:
        self.db.execute(
            "INSERT INTO timers (due_at, message_id, status) VALUES (?, ?, ?)",
            (due_at, message_id, status),
        )

    @_locked
    def pop_due_timers(self, now: float) -> list[tuple[str, str]]:
        """Remove and return the (message_id, status) changes that are due, oldest first."""
        rows = self.db.execute(
            "SELECT seq, message_id, status FROM timers WHERE due_at <= ? ORDER BY due_at, seq",
            (now,),
        ).fetchall()
        if rows:
            self.db.executemany("DELETE FROM timers WHERE seq = ?", [(r["seq"],) for r in rows])
        return [(row["message_id"], row["status"]) for row in rows]


def _webhook(row: sqlite3.Row) -> dict[str, Any]:
    """The API's webhook object; never the secret."""
    return {
        "id": row["id"],
        "url": row["url"],
        "events": json.loads(row["events"]),
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
