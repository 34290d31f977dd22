"""apimw's files: the config and data directories, private atomic writes, bounded reads, and
the TOML config file (one table per profile), changed only under its file lock.

Every fault of a file or directory apimw keeps (read-only, full, a directory or a device where a
file belongs, too big, too deep, not UTF-8) is a ConfigError naming the path, with a hint.

File formats are imported where used: every command (and `apimw --help`) imports the settings,
and start-up time matters.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from apimw_cli.errors import ConfigError
from apimw_cli.settings.names import ENV_CONFIG_DIR, ENV_DATA_DIR

# A config file apimw writes is a few hundred bytes; anything near this is not one of ours (and
# /dev/zero behind a link must not be read until memory runs out).
MAX_CONFIG_BYTES = 1024 * 1024
_HEADER = "# Written by apimw. Holds credentials: keep it private (mode 0600).\n"


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where apimw keeps its config file and token cache."""
    return _app_dir(env, ENV_CONFIG_DIR, "config")


def data_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where apimw keeps data: the sandbox's database, recorded listen sessions."""
    return _app_dir(env, ENV_DATA_DIR, "data")


def _app_dir(env: Mapping[str, str] | None, variable: str, kind: Literal["config", "data"]) -> Path:
    """$variable if set, else the platform's config or data directory for apimw."""
    env = os.environ if env is None else env
    override = env.get(variable)
    if override:
        return Path(override).expanduser()
    import platformdirs  # only when a command needs files: keeps `--help` fast

    find = platformdirs.user_config_dir if kind == "config" else platformdirs.user_data_dir
    return Path(find("apimw", appauthor=False))


def sessions_dir() -> Path:
    """Recorded `apimw listen` sessions, one JSONL file each."""
    return data_dir() / "sessions"


def make_private_dir(path: Path, *, tighten: bool = False) -> None:
    """Create `path` and any missing parents readable by the owner only (0700).

    With `tighten`, an existing `path` of ours that others may read is made 0700 too: only for
    directories apimw owns (never a parent, nor a directory the user named for a file).
    """
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for directory in reversed(missing):
        directory.mkdir(mode=0o700, exist_ok=True)
    if tighten and not missing:
        info = path.stat()
        if info.st_uid == os.getuid() and info.st_mode & 0o077 and stat.S_ISDIR(info.st_mode):
            path.chmod(0o700)


def write_private_file(path: Path, data: bytes) -> None:
    """Atomically replace `path` with `data`, readable by the owner only (0600).

    A reader sees the old file or the new one, never half of either. A symbolic link stays: the
    file it points to is replaced (a config file kept in a dotfiles repository). What is not a
    regular file is written into as it is, never replaced nor made private: a path a user named
    may be a device, a pipe or our own output (`--report /dev/stdout`, `--ready-file
    /dev/null`); as root, replacing /dev/null would break it for the whole machine.
    """
    import tempfile

    if _written_in_place(path, data):
        return
    path = Path(os.path.realpath(path))
    make_private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _written_in_place(path: Path, data: bytes) -> bool:
    """Write `data` into `path` when it is not a regular file (see write_private_file), or
    is the file our stdout or stderr writes to (after what they hold: in order, not over it)."""
    import sys

    try:
        info = os.stat(path)
    except OSError:  # not there yet: made by the atomic write (which says what else is wrong)
        return False
    for stream in (sys.stdout, sys.stderr):
        try:
            fd = stream.fileno()
            ours = os.path.samestat(info, os.fstat(fd))
        except (AttributeError, OSError, ValueError):  # no descriptor (a StringIO), or closed
            continue
        if ours:
            stream.flush()
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            return True
    if stat.S_ISREG(info.st_mode):
        return False
    with open(path, "wb") as file:  # a device or a pipe: written to, never made private
        file.write(data)
    return True


class NotAFile(ValueError):
    """What `read_small_file` found is not a regular file of a sensible size."""


def read_small_file(path: Path, limit: int) -> bytes | None:
    """The bytes of `path` (None when it does not exist), read only if it is a regular file of
    at most `limit` bytes: never a directory, a FIFO (opened without blocking) or a device.

    Raises NotAFile saying what it is instead, and OSError when it cannot be read.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise NotAFile("is a directory, not a file") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise NotAFile("is a directory, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise NotAFile("is not a regular file (a device, a FIFO or a socket?)")
        if info.st_size > limit:
            raise _too_big(limit)
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, 65536):  # the file may grow while we read it
            size += len(chunk)
            if size > limit:
                raise _too_big(limit)
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _too_big(limit: int) -> NotAFile:
    size = f"{limit // 2**20} MB" if limit >= 2**20 else f"{limit // 1024} KB"
    return NotAFile(f"is larger than {size}: not a file apimw wrote")


def file_fault(path: Path, error: OSError, doing: str) -> ConfigError:
    """A ConfigError for an OSError met while `doing` (e.g. "write") `path`, with a hint."""
    reason = error.strerror or str(error)
    where = path.parent
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        able = "readable" if doing == "read" else "writable"
        hint = f"make {where} {able} for you, or point APIMW_CONFIG_DIR/APIMW_DATA_DIR elsewhere"
    elif error.errno in (errno.ENOSPC, errno.EDQUOT):
        hint = f"free some space on the disk that holds {where}, then try again"
    elif error.errno in (errno.EISDIR, errno.ENOTDIR, errno.ELOOP, errno.EEXIST):
        hint = f"move {path} (or what is in its way) aside"
    else:
        hint = f"check {where} and its permissions"
    return ConfigError(f"cannot {doing} {path}: {reason}", hint=hint)


class ConfigFile:
    """The TOML config file: `[profiles.<name>]` tables of settings.

    Every change reads the file afresh, edits it and writes it back under `<file>.lock`, so
    concurrent `apimw` processes (login, logout, config set/unset) never lose each other's work.
    """

    def __init__(self, path: Path, *, own_dir: bool = True) -> None:
        """`own_dir`: the directory is apimw's own (not one the user named), so an existing one
        that others may read is made 0700 when the file is written."""
        self.path = path
        self.own_dir = own_dir
        self._data: dict[str, Any] | None = None

    def _load(self) -> dict[str, Any]:
        if self._data is None:
            self._data = self._parse(self._read())
        return self._data

    def _read(self) -> str:
        try:
            raw = read_small_file(self.path, MAX_CONFIG_BYTES)
        except NotAFile as exc:
            raise ConfigError(
                f"{self.path} {exc}", hint="move it aside; `apimw config set` writes a new one"
            ) from None
        except OSError as exc:
            raise file_fault(self.path, exc, "read") from None
        try:
            return "" if raw is None else raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"{self.path} is not UTF-8 text (byte {exc.start})",
                hint="fix or delete it",
            ) from None

    def _parse(self, text: str) -> dict[str, Any]:
        if not text.strip():
            return {}  # no config file (the usual case with --sandbox or APIMW_*): no tomllib
        import tomllib

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            # tomllib's message names the line and column: "Invalid value (at line 3, column 7)"
            raise ConfigError(
                f"{self.path} is not valid TOML: {exc}",
                hint="fix that line, or move the file away to start afresh",
            ) from None
        except RecursionError:
            raise ConfigError(
                f"{self.path} is nested too deeply to be a config file",
                hint="move it aside; `apimw config set` writes a new one",
            ) from None
        profiles = data.get("profiles", {})
        if not isinstance(profiles, dict) or not all(
            isinstance(p, dict) for p in profiles.values()
        ):
            raise ConfigError(
                f"{self.path}: 'profiles' must hold tables like [profiles.default]",
                hint="fix or delete the file",
            )
        return data

    def profile_names(self) -> list[str]:
        return sorted(self._load().get("profiles", {}))

    def profile(self, name: str) -> dict[str, Any]:
        return dict(self._load().get("profiles", {}).get(name, {}))

    @contextlib.contextmanager
    def _locked(self, timeout: float = 30.0) -> Iterator[None]:
        """Hold `<file>.lock` (one file, reused: it is never removed)."""
        import filelock

        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            make_private_dir(self.path.parent, tighten=self.own_dir)
            lock = filelock.FileLock(str(lock_path), timeout=timeout, mode=0o600)
            lock.acquire()
        except filelock.Timeout:
            raise ConfigError(
                f"another apimw process holds {lock_path}",
                hint="wait for it to finish, or delete the .lock file if none is running",
            ) from None
        except OSError as exc:
            raise file_fault(lock_path, exc, "lock") from None
        try:
            yield
        finally:
            lock.release()

    def update_profile(self, name: str, **changes: Any) -> None:
        """Set (or, with None, remove) keys of one profile (see `edit_profile`)."""

        def apply(profile: dict[str, Any]) -> None:
            for key, value in changes.items():
                if value is None:
                    profile.pop(key, None)
                else:
                    profile[key] = value

        self.edit_profile(name, apply)

    def edit_profile(self, name: str, edit: Callable[[dict[str, Any]], None]) -> None:
        """Change one profile's table in place with `edit`: the file is read afresh, edited and
        written atomically, all under the file lock (an empty profile is removed)."""
        import tomli_w

        with self._locked():
            self._data = None  # what another process wrote since we last read counts
            data = self._load()
            profiles = data.setdefault("profiles", {})
            profile = profiles.setdefault(name, {})
            edit(profile)
            if not profile:
                del profiles[name]
            try:
                write_private_file(self.path, (_HEADER + tomli_w.dumps(data)).encode("utf-8"))
            except OSError as exc:
                self._data = None
                raise file_fault(self.path, exc, "write") from None
        self._data = data
