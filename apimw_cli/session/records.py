"""How a listen session's temporary webhook is recognised later, without relying on anything
APIMW does not document.

1. Its URL: APIMW stores a webhook's URL for sure, so the session registers at a path whose
   last segment is a marker, `apimw-listen-<session id>` (`/webhooks/apimw-listen-3f9a...`).
2. A local record of what this machine registered: one private file (0600, written atomically)
   per session under the data directory, so concurrent sessions never write the same file. It
   says which process on which host owns the webhook; a crashed session's record is how the
   next session knows the webhook is stale without asking the network.
"""

from __future__ import annotations

import calendar
import contextlib
import json
import os
import re
import secrets
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

from apimw_cli.settings import data_dir, make_private_dir, write_private_file

__all__ = [
    "MARKER_PREFIX",
    "Owner",
    "Record",
    "load_all",
    "marked_path",
    "new_session_id",
    "pid_alive",
    "records_dir",
    "remove",
    "save",
    "session_of",
]

MARKER_PREFIX = "apimw-listen-"
RECORD_TTL = 30 * 86400.0  # seconds an abandoned record of another API is kept
_MARKER = re.compile(rf"{MARKER_PREFIX}([0-9a-f]{{12}})")


def new_session_id() -> str:
    return secrets.token_hex(6)


def marked_path(path: str, session: str) -> str:
    """`path` with the session's marker as its last segment: `/webhooks` ->
    `/webhooks/apimw-listen-<session>`."""
    return path.rstrip("/") + "/" + MARKER_PREFIX + session


def session_of(url: str) -> str | None:
    """The session id a temporary webhook's URL carries, or None for any other URL."""
    last = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    found = _MARKER.fullmatch(last)
    return found.group(1) if found else None


@dataclass(frozen=True)
class Owner:
    """Whose temporary webhooks a session judges: the API and profile it registers with."""

    api_base: str
    profile: str


@dataclass(frozen=True)
class Record:
    """One temporary webhook this machine registered, and who owns it."""

    session: str
    webhook_id: str
    url: str
    api_base: str
    profile: str
    pid: int
    host: str
    started: str

    @classmethod
    def now(cls, session: str, webhook_id: str, url: str, api_base: str, profile: str) -> Record:
        started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        host = socket.gethostname()
        return cls(session, webhook_id, url, api_base, profile, os.getpid(), host, started)

    def abandoned(self, now: float) -> bool:
        """Is this an old record of a dead process on this host? Kept RECORD_TTL for its API's
        next session (a sandbox's port may never come back); past that, the URL check suffices."""
        try:
            started = calendar.timegm(time.strptime(self.started, "%Y-%m-%dT%H:%M:%SZ"))
        except ValueError:
            return False
        return now - started > RECORD_TTL and self.owner_alive() is False

    def owner_alive(self) -> bool | None:
        """Is the owning process alive? None when it runs on another host (a shared home)."""
        if self.host != socket.gethostname():
            return None
        return pid_alive(self.pid)


def records_dir() -> Path:
    return data_dir() / "listen-webhooks"


def save(record: Record) -> None:
    """Write `record` (0600) into the records directory, made private (0700) if it was not."""
    make_private_dir(records_dir(), tighten=True)
    path = records_dir() / f"{record.session}.json"
    write_private_file(path, (json.dumps(asdict(record), indent=2) + "\n").encode())


def remove(session: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        (records_dir() / f"{session}.json").unlink()


def load_all() -> list[Record]:
    """Every readable record; a file another session is replacing or removing is skipped."""
    found: list[Record] = []
    try:
        paths = sorted(records_dir().glob("*.json"))
    except OSError:
        return found
    for path in paths:
        try:
            fields = json.loads(path.read_text(encoding="utf-8"))
            record = Record(**fields)
        except (OSError, ValueError, TypeError):
            continue  # gone meanwhile, or not a record of ours
        if _MARKER.fullmatch(MARKER_PREFIX + record.session) and isinstance(record.pid, int):
            found.append(record)
    return found


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False  # 0 and -1 would ask about a whole process group
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    except OverflowError:
        return False
    return True
