"""apimw's files: the config and data directories, private atomic writes, the TOML config
file (one table per profile) and the token cache (one file per profile and API identity, behind
a file lock).

File formats and the token model are imported where used: every command (and `apimw --help`)
imports the settings, and start-up time matters.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from apimw_cli.errors import ConfigError
from apimw_cli.settings.names import ENV_CONFIG_DIR, ENV_DATA_DIR

if TYPE_CHECKING:
    from apimw_cli.models import TokenSet


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


def make_private_dir(path: Path) -> None:
    """Create `path` and any missing parents readable by the owner only (0700)."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for directory in reversed(missing):
        directory.mkdir(mode=0o700, exist_ok=True)


def write_private_file(path: Path, data: bytes) -> None:
    """Atomically replace `path` with `data`, readable by the owner only (0600).

    A reader sees the old file or the new one, never half of either.
    """
    import tempfile

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


class ConfigFile:
    """The TOML config file: `[profiles.<name>]` tables of settings."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._data: dict[str, Any] | None = None

    def _load(self) -> dict[str, Any]:
        import tomllib

        if self._data is None:
            try:
                text = self.path.read_text(encoding="utf-8")
            except FileNotFoundError:
                text = ""
            except UnicodeDecodeError as exc:
                raise ConfigError(
                    f"{self.path} is not UTF-8 text", hint="fix or delete it"
                ) from exc
            except OSError as exc:
                raise ConfigError(f"cannot read {self.path}: {exc.strerror}") from exc
            try:
                data = tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                # tomllib's message names the line and column: "Invalid value (at line 3, column 7)"
                raise ConfigError(
                    f"{self.path} is not valid TOML: {exc}",
                    hint="fix that line, or move the file away to start afresh",
                ) from exc
            profiles = data.get("profiles", {})
            if not isinstance(profiles, dict) or not all(
                isinstance(p, dict) for p in profiles.values()
            ):
                raise ConfigError(
                    f"{self.path}: 'profiles' must hold tables like [profiles.default]",
                    hint="fix or delete the file",
                )
            self._data = data
        return self._data

    def profile_names(self) -> list[str]:
        return sorted(self._load().get("profiles", {}))

    def profile(self, name: str) -> dict[str, Any]:
        return dict(self._load().get("profiles", {}).get(name, {}))

    def update_profile(self, name: str, **changes: Any) -> None:
        """Set (or, with None, remove) keys of one profile and write the file atomically."""
        import tomli_w

        data = self._load()
        profiles = data.setdefault("profiles", {})
        profile = profiles.setdefault(name, {})
        for key, value in changes.items():
            if value is None:
                profile.pop(key, None)
            else:
                profile[key] = value
        if not profile:
            del profiles[name]
        header = "# Written by apimw. Holds credentials: keep it private (mode 0600).\n"
        write_private_file(self.path, (header + tomli_w.dumps(data)).encode("utf-8"))
        self._data = data


class TokenStore:
    """The cached access/refresh tokens of one profile and API identity.

    Refresh tokens are single-use: whoever refreshes must hold `lock()` from reading the old
    token to writing the new one, or a concurrent apimw process would burn it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextlib.contextmanager
    def lock(self, timeout: float = 30.0) -> Iterator[None]:
        import filelock

        make_private_dir(self.path.parent)
        try:
            with filelock.FileLock(str(self.path) + ".lock", timeout=timeout, mode=0o600):
                yield
        except filelock.Timeout as exc:
            raise ConfigError(
                f"another apimw process holds {self.path}.lock",
                hint="wait for it to finish, or delete the .lock file if none is running",
            ) from exc

    def load(self) -> TokenSet | None:
        import json

        from apimw_cli.models import TokenSet

        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            return TokenSet(
                access_token=str(raw["access_token"]),
                expires_at=float(raw["expires_at"]),
                refresh_token=raw.get("refresh_token"),
                token_type=str(raw.get("token_type", "Bearer")),
            )
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            return None  # a damaged cache is only a cache: get fresh tokens

    def save(self, tokens: TokenSet) -> None:
        import json

        payload = {
            "access_token": tokens.access_token,
            "expires_at": tokens.expires_at,
            "refresh_token": tokens.refresh_token,
            "token_type": tokens.token_type,
        }
        write_private_file(self.path, json.dumps(payload).encode("utf-8"))

    def clear(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
