"""Session logs do not pile up: when `apimw listen` starts a new one, the older logs past the
limits are removed (`keep_sessions`: the newest N are kept; `keep_session_days`: none older than
D days; 0 turns a limit off).

A log that a live `listen` records into is never removed, however old: the Recorder holds a
shared lock on it (flock) for as long as it writes, and the pruner removes a file only while it
holds the exclusive lock. A log written in the last minute is left alone too (a listen between
creating its file and locking it).
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from pathlib import Path

from apimw_cli.errors import ConfigError

__all__ = ["RECENT", "hold_shared", "prepare_sessions_dir", "prune", "session_logs"]

RECENT = 60.0  # seconds: a log touched this recently is never pruned
_DAY = 86400.0


def session_logs(directory: Path) -> list[Path]:
    """The session logs in `directory`, oldest first (by last write)."""
    found: list[tuple[float, Path]] = []
    try:
        candidates = list(directory.glob("*.jsonl"))
    except OSError:
        return []
    for path in candidates:
        with contextlib.suppress(OSError):  # removed meanwhile
            found.append((path.stat().st_mtime, path))
    return [path for _, path in sorted(found)]


def prune(
    directory: Path,
    *,
    keep: int,
    keep_days: float,
    now: float | None = None,
    spare: Path | None = None,
) -> list[Path]:
    """Remove the logs of `directory` beyond the `keep` newest or older than `keep_days` (0:
    no such limit), except `spare`, a log in use, or one written in the last minute. Returns
    what was removed; a log that cannot be removed is left."""
    now = time.time() if now is None else now
    newest_first = list(reversed(session_logs(directory)))
    removed: list[Path] = []
    for rank, path in enumerate(newest_first):
        try:
            age = now - path.stat().st_mtime
        except OSError:
            continue
        excess = keep > 0 and rank >= keep
        too_old = keep_days > 0 and age > keep_days * _DAY
        if not (excess or too_old) or age < RECENT or path == spare:
            continue
        if _remove_unless_held(path):
            removed.append(path)
    return removed


def _remove_unless_held(path: Path) -> bool:
    """Unlink `path` if no process holds a lock on it (it would be a live listen's log)."""
    try:
        import fcntl
    except ImportError:  # no flock (Windows): only the age rules protect a live log
        fcntl = None  # type: ignore[assignment]
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return False
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError: in use
        path.unlink()
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


def hold_shared(fd: int) -> None:
    """Mark the log open on `fd` as in use for as long as it stays open (see `prune`)."""
    try:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except (ImportError, OSError):
        pass  # a file system without flock, or a pruner at this very instant: best effort


def prepare_sessions_dir(keep: int, keep_days: float) -> Path:
    """The directory of session logs, private (0700, tightened if it exists), with the older
    logs past the limits pruned: ready for a new log (see `prune`).

    Raises ConfigError, naming the directory, when it cannot be made or written.
    """
    from apimw_cli.settings import file_fault, make_private_dir, sessions_dir

    directory = sessions_dir()
    try:
        make_private_dir(directory, tighten=True)
        if not os.access(directory, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(directory))
    except OSError as exc:
        hint = file_fault(directory / "log", exc, "write").hint  # names `directory`
        if exc.errno in (errno.ENOTDIR, errno.EEXIST):
            hint = f"a file is where {directory} or a folder above it belongs: move it aside"
        raise ConfigError(
            f"cannot record sessions in {directory}: {exc.strerror or exc}", hint=hint
        ) from None
    prune(directory, keep=keep, keep_days=keep_days)  # leaves what it cannot remove
    return directory
