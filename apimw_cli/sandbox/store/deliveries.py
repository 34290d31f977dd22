"""Events, their deliveries to webhooks, and the record of every attempt."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from apimw_cli.sandbox.clock import iso
from apimw_cli.sandbox.store.database import (
    DELIVERED,
    FAILED,
    PENDING,
    SENDING,
    Table,
    locked,
    new_id,
)


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


@dataclass(frozen=True, slots=True)
class FinishedAttempt:
    """An attempt that is over, to be recorded. `error` None means success; `retry_in` None
    after a failure means attempts are exhausted."""

    delivery: DueDelivery
    status_code: int | None
    error: str | None
    duration_ms: int
    at: float  # when it ended
    retry_in: float | None


class _WebhookChange:
    """What a batch's attempts, in order, do to one webhook: its last delivery, and its count
    of consecutive failures (reset by a success, then counted again)."""

    __slots__ = ("at", "failures", "reset", "status")

    def __init__(self) -> None:
        self.at = 0.0
        self.status: int | None = None
        self.reset = False  # a success in the batch: the count restarts from 0 there
        self.failures = 0  # failed attempts since the last success (or the batch's start)

    def add(self, at: float, status: int | None, success: bool) -> None:
        self.at, self.status = at, status
        if success:
            self.reset, self.failures = True, 0
        else:
            self.failures += 1

    def row(self) -> tuple[float, int | None, bool, int, int]:
        return self.at, self.status, self.reset, self.failures, self.failures


def _outcome(finished: FinishedAttempt) -> AttemptOutcome:
    """The attempt's number, when the next one is due, and why the webhook is now disabled."""
    delivery, error = finished.delivery, finished.error
    attempt = delivery.attempts + 1
    if error is None:
        return AttemptOutcome(attempt, None, None)
    if finished.retry_in is not None:
        return AttemptOutcome(attempt, finished.at + finished.retry_in, None)
    reason = (
        f"disabled after {attempt} failed attempts to deliver {delivery.event_type} "
        f"({delivery.event_id}); last error: {error}"
    )
    return AttemptOutcome(attempt, None, reason)


class Deliveries(Table):
    @locked
    def enqueue_event(self, event_type: str, body: bytes, now: float) -> tuple[str, int]:
        """Store an event and a delivery for each active webhook subscribed to its type."""
        event_id = new_id("evt")
        targets = [
            row["id"]
            for row in self.db.execute("SELECT id, events FROM webhooks WHERE active = 1")
            if event_type in orjson.loads(row["events"])
        ]
        with self.database.transaction() as db:
            db.execute(
                "INSERT INTO events (id, type, body, created_at) VALUES (?, ?, ?, ?)",
                (event_id, event_type, body, now),
            )
            db.executemany(
                "INSERT INTO deliveries (id, event_id, webhook_id, state, next_at)"
                " VALUES (?, ?, ?, ?, ?)",
                [(new_id("dlv"), event_id, target, PENDING, now) for target in targets],
            )
        return event_id, len(targets)

    @locked
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
            marks = ",".join("?" * len(rows))
            self.db.execute(
                f"UPDATE deliveries SET state = ? WHERE id IN ({marks})",  # noqa: S608 - only placeholders
                (SENDING, *(r["id"] for r in rows)),
            )
        return [_due(row) for row in rows]

    @locked
    def release(self, delivery_id: str) -> None:
        """Put a claimed delivery back, unattempted."""
        self.db.execute(
            "UPDATE deliveries SET state = ? WHERE id = ? AND state = ?",
            (PENDING, delivery_id, SENDING),
        )

    @locked
    def next_due_at(self) -> float | None:
        """When the next delivery or message timer is due (index lookups only: called often)."""
        due = self.db.execute(
            "SELECT MIN(next_at) AS t FROM deliveries WHERE state = ?", (PENDING,)
        ).fetchone()["t"]
        timer = self.db.execute("SELECT MIN(due_at) AS t FROM timers").fetchone()["t"]
        candidates = [t for t in (due, timer) if t is not None]
        return min(candidates) if candidates else None

    @locked
    def record_attempts(self, finished: Sequence[FinishedAttempt]) -> list[AttemptOutcome]:
        """Store attempts and their consequences (next retry, or the webhook disabled) in one
        transaction: a burst of deliveries costs one commit per batch, not one per attempt.
        The same webhook may appear several times: rows are applied in order."""
        outcomes = [_outcome(each) for each in finished]
        deliveries, attempts, disabled = [], [], []
        webhooks: dict[str, _WebhookChange] = {}  # one update per webhook, the batch's net change
        for each, outcome in zip(finished, outcomes, strict=True):
            delivery, success = each.delivery, each.error is None
            state = DELIVERED if success else PENDING if outcome.next_at is not None else FAILED
            deliveries.append((outcome.attempt, state, outcome.next_at, delivery.id))
            attempts.append(
                (
                    delivery.id,
                    delivery.webhook_id,
                    delivery.event_id,
                    delivery.event_type,
                    outcome.attempt,
                    each.status_code,
                    each.error,
                    each.duration_ms,
                    each.at,
                    outcome.next_at,
                )
            )
            change = webhooks.setdefault(delivery.webhook_id, _WebhookChange())
            change.add(each.at, each.status_code, success)
            if outcome.disabled_reason is not None:
                disabled.append((outcome.disabled_reason, each.at, delivery.webhook_id))
        with self.database.transaction() as db:
            db.executemany(
                "UPDATE deliveries SET attempts = ?, state = ?, next_at = ? WHERE id = ?",
                deliveries,
            )
            db.executemany(
                "INSERT INTO attempts (delivery_id, webhook_id, event_id, event_type, attempt,"
                " status_code, error, duration_ms, delivered_at, next_retry_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                attempts,
            )
            db.executemany(
                "UPDATE webhooks SET last_delivery_at = ?, last_delivery_status = ?,"
                " failure_count = CASE WHEN ? THEN ? ELSE failure_count + ? END WHERE id = ?",
                [(*change.row(), webhook_id) for webhook_id, change in webhooks.items()],
            )
            db.executemany(
                "UPDATE webhooks SET active = 0, disabled_reason = ?, updated_at = ? WHERE id = ?",
                disabled,
            )
        return outcomes

    @locked
    def attempts(
        self, webhook_id: str, *, limit: int, offset: int = 0
    ) -> tuple[list[dict[str, Any]], int]:
        """A page of a webhook's attempts as the API lists them, newest first, and how many
        there are in all."""
        rows = self.db.execute(
            "SELECT * FROM attempts WHERE webhook_id = ? ORDER BY seq DESC LIMIT ? OFFSET ?",
            (webhook_id, limit, offset),
        ).fetchall()
        total = self.db.execute(
            "SELECT COUNT(*) AS n FROM attempts WHERE webhook_id = ?", (webhook_id,)
        ).fetchone()["n"]
        return [_attempt(row) for row in rows], int(total)


def _due(row: sqlite3.Row) -> DueDelivery:
    return DueDelivery(
        id=row["id"],
        event_id=row["event_id"],
        event_type=row["type"],
        body=bytes(row["body"]),
        webhook_id=row["webhook_id"],
        url=row["url"],
        secret=row["secret"],
        attempts=row["attempts"],
    )


def _attempt(row: sqlite3.Row) -> dict[str, Any]:
    return {
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
