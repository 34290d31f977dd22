"""The sandbox's state in SQLite: one connection, one part per concern.

`store.tokens` (signing key, refresh tokens, revocations), `store.webhooks`, `store.deliveries`
(events, deliveries, attempts), `store.messages` (messages, their status timers, when each
customer last wrote) and `store.templates` share the connection and take turns on it. A
restart finds pending retries and message timers where they were.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from apimw_cli.sandbox.store.database import Database
from apimw_cli.sandbox.store.deliveries import (
    AttemptOutcome,
    Deliveries,
    DueDelivery,
    FinishedAttempt,
)
from apimw_cli.sandbox.store.messages import Messages
from apimw_cli.sandbox.store.templates import Templates
from apimw_cli.sandbox.store.tokens import Tokens
from apimw_cli.sandbox.store.webhooks import Webhooks

__all__ = ["AttemptOutcome", "DueDelivery", "FinishedAttempt", "Store", "unusable"]


class Store:
    """The sandbox's tables; `path` None keeps them in memory. `own_dir`: the database's
    directory is the sandbox's alone, and is made private even when it exists already."""

    def __init__(self, path: Path | None, *, own_dir: bool = True) -> None:
        self.database = Database(path, own_dir=own_dir)
        self.tokens = Tokens(self.database)
        self.webhooks = Webhooks(self.database)
        self.deliveries = Deliveries(self.database)
        self.messages = Messages(self.database)
        self.templates = Templates(self.database)
        self.templates.seed()

    def close(self) -> None:
        self.database.close()


def unusable(path: Path, *, own_dir: bool = True) -> str | None:
    """Why the database at `path` cannot be opened and written (one line), or None; opening it
    makes it and its directory as the sandbox keeps them. For the CLI to say before it serves:
    the server would only crash in its startup."""
    try:
        Store(path, own_dir=own_dir).close()
    except OSError as exc:
        return exc.strerror or exc.__class__.__name__
    except sqlite3.Error as exc:
        return str(exc) or exc.__class__.__name__
    return None
