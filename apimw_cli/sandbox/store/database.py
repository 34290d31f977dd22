"""The sandbox's one SQLite connection, its schema, and the lock its two threads share.

Every write commits at once, so a restart finds pending retries and message timers where they
were. Durability: WAL with synchronous=NORMAL, which survives the sandbox's own crash or kill
(a commit is in the WAL before the call returns) but may lose the last commits to a power cut
or an OS crash; synchronous=FULL would fsync every commit, for a local test server's data that
is not worth it. The delivery worker commits a turn's finished attempts together: one killed
mid-turn sends those deliveries again after a restart (deliveries are at least once, with the
same X-APIMW-Delivery), never loses one. Statements are prepared once: sqlite3 caches them
per connection (cached_statements), and each is written as one constant string.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import sqlite3
import stat
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

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
    error TEXT,
    template TEXT
);
CREATE TABLE IF NOT EXISTS contacts (number TEXT PRIMARY KEY, last_inbound_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS templates (
    name TEXT NOT NULL,
    language TEXT NOT NULL,
    status TEXT NOT NULL,
    category TEXT NOT NULL,
    components TEXT NOT NULL,
    PRIMARY KEY (name, language)
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
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # never create the database through a symlink


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


def prepare_private(path: Path, *, own_dir: bool = True) -> None:
    """Make the database's directory 0700 and the database file 0600 before SQLite opens it.

    The database holds webhook secrets and the JWT signing key. SQLite creates a new database
    file 0644 (less the umask), and its -wal and -shm files with the database file's mode: a
    file created here first, 0600, keeps all three private, whatever the umask, without
    changing the process's umask (other threads create files meanwhile).
    """
    _make_private_dirs(path.parent, tighten_existing=own_dir)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600))
    tighten(path)


def _make_private_dirs(directory: Path, *, tighten_existing: bool) -> None:
    """Create `directory` and missing parents 0700. An existing `directory` is made 0700 when
    it is the sandbox's own (`sandbox/` in the data directory), not a --data-dir the user
    named, which may hold anything (`--data-dir .`): the files in it are 0600 anyway."""
    missing = [d for d in (directory, *directory.parents) if not d.exists()]
    for each in reversed(missing):
        with contextlib.suppress(FileExistsError):
            each.mkdir(mode=0o700)
        _chmod(each, 0o700)  # mkdir's mode is cut by the umask
    if tighten_existing:
        _chmod(directory, 0o700)


def tighten(path: Path) -> None:
    """The database, its -wal and -shm files 0600 (an older sandbox left them 0644)."""
    for each in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        _chmod(each, 0o600)


def _chmod(path: Path, mode: int) -> None:
    """chmod when the mode differs; a file we do not own, or that is gone, is left as it is."""
    with contextlib.suppress(FileNotFoundError, PermissionError):
        if stat.S_IMODE(path.stat().st_mode) != mode:
            path.chmod(mode)


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


class Database:
    """The connection (one, used by the API's loop and the delivery worker's) and its lock."""

    def __init__(self, path: Path | None, *, own_dir: bool = True) -> None:
        self.lock = FairLock()
        if path is not None:
            prepare_private(path, own_dir=own_dir)
        self.connection = sqlite3.connect(
            ":memory:" if path is None else str(path),
            check_same_thread=False,
            isolation_level=None,  # autocommit; multi-statement changes use explicit transactions
        )
        self.connection.row_factory = sqlite3.Row
        if path is not None:
            self.connection.execute("PRAGMA journal_mode=WAL")
            self.connection.execute("PRAGMA synchronous=NORMAL")
        self.connection.executescript(SCHEMA)
        self._migrate()
        # Attempts cut short by a stop or a crash are sent again: deliveries are at least once.
        self.connection.execute(
            "UPDATE deliveries SET state = ? WHERE state = ?", (PENDING, SENDING)
        )
        if path is not None:
            tighten(path)  # -wal and -shm exist now (journal_mode=WAL made them)

    def _migrate(self) -> None:
        """Columns added after a database was first made: a stored sandbox keeps its data."""
        columns = {row["name"] for row in self.connection.execute("PRAGMA table_info(messages)")}
        if "template" not in columns:
            self.connection.execute("ALTER TABLE messages ADD COLUMN template TEXT")

    def close(self) -> None:
        with self.lock:
            self.connection.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Several statements that land together or not at all (the caller holds the lock)."""
        self.connection.execute("BEGIN IMMEDIATE")
        try:
            yield self.connection
            self.connection.execute("COMMIT")
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise


class Table:
    """One concern's tables (tokens, webhooks, deliveries, messages, templates) on the shared
    connection."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.db = database.connection


def locked(method: F) -> F:
    """One connection, two threads (the API's loop and the delivery worker's): take turns."""

    @functools.wraps(method)
    def wrapper(self: Table, *args: Any, **kwargs: Any) -> Any:
        with self.database.lock:
            return method(self, *args, **kwargs)

    return cast(F, wrapper)
