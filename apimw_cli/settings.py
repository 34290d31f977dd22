"""Where every setting comes from: flag > environment > profile > default, with provenance.

Environment variable names are declared here once. The config file is TOML in the platform
config dir (APIMW_CONFIG_DIR overrides it), one table per profile, written atomically 0600.
The token cache lives beside it, one file per profile and API identity, behind a file lock.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from apimw_cli.errors import ConfigError, CredentialsError, UsageError

if TYPE_CHECKING:
    from apimw_cli.models import TokenSet

# File formats, hashing and the token model are imported where used: every command (and
# `apimw --help`) imports this module, and start-up time matters.

# --- environment variables (the only place their names are spelled) ---
ENV_PROFILE = "APIMW_PROFILE"
ENV_CONFIG_DIR = "APIMW_CONFIG_DIR"
ENV_DATA_DIR = "APIMW_DATA_DIR"
ENV_TOKEN = "APIMW_TOKEN"
ENV_API_KEY = "APIMW_API_KEY"
ENV_API_SECRET = "APIMW_API_SECRET"
ENV_SANDBOX_URL = "APIMW_SANDBOX_URL"
ENV_SANDBOX_API_KEY = "APIMW_SANDBOX_API_KEY"
ENV_SANDBOX_API_SECRET = "APIMW_SANDBOX_API_SECRET"
ENV_NO_COLOR = "NO_COLOR"

DEFAULT_PROFILE = "default"
DEFAULT_API_BASE = "https://api.apimw.com/v1"
CONFIG_FILE_NAME = "config.toml"

# The sandbox's fixed, documented credentials: shaped like real ones, useless anywhere else.
SANDBOX_API_BASE = "http://127.0.0.1:8787/v1"
SANDBOX_API_KEY = "ak_test_sandbox_4f7c2a9e1b3d5f60"
SANDBOX_API_SECRET = "sk_test_sandbox_8e1d4b7a2c9f3e6051d8a7b4"

# Profile names become file names (the token cache): keep them tame.
_PROFILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")

OutputFormat = Literal["table", "json"]
OUTPUT_FORMATS: tuple[str, ...] = ("table", "json")


# --- validators ---------------------------------------------------------------------------
# Each setting names its parser where it is declared (SETTINGS below). A parser turns the text
# given to `apimw config set` or found in the environment into the setting's value, or raises
# UsageError saying what is wrong and, when the text is close to a valid value, which one it
# probably meant. `Settings.resolve` turns that into a ConfigError naming the variable.

Parser = Callable[["Setting", str], Any]

# The regions the ngrok agent accepts for --region (its points of presence).
NGROK_REGIONS: tuple[str, ...] = ("us", "us-cal-1", "eu", "ap", "au", "sa", "jp", "in")
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to `word` (difflib), or None when none is close."""
    import difflib

    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """`: did you mean 'x'?` for the candidate closest to `word`, or "" when none is close."""
    guess = closest(word, candidates)
    return f": did you mean {guess!r}?" if guess else ""


def text(setting: Setting, raw: str) -> str:
    """Any text on one line (a path, a token): not empty, no control characters."""
    if not raw.strip():
        raise UsageError(
            f"{setting.name} cannot be empty",
            hint=f"`apimw config unset {setting.name}` removes it",
        )
    if _CONTROL.search(raw):
        raise UsageError(f"{setting.name} cannot contain control characters, got {raw!r}")
    return raw


def positive_number(setting: Setting, raw: str) -> float:
    """A finite number above 0 (a timeout in seconds)."""
    import math

    try:
        value = float(raw)
    except ValueError:
        bare = raw.strip().removesuffix("s").strip()
        guess = f": did you mean {bare!r}?" if bare and _is_number(bare) else ""
        raise UsageError(
            f"{setting.name} must be a number, got {raw!r}{guess}",
            hint="a number of seconds, for example 30",
        ) from None
    if not math.isfinite(value) or value <= 0:
        raise UsageError(f"{setting.name} must be a positive number, got {raw!r}")
    return value


def _is_number(raw: str) -> bool:
    try:
        float(raw)
    except ValueError:
        return False
    return True


def http_url(setting: Setting, raw: str) -> str:
    """An absolute http(s) URL with a host (and a valid port, if any)."""
    if is_http_url(raw):
        return raw
    stripped = raw.strip()
    scheme, sep, rest = stripped.partition("://")
    if not sep:  # api.apimw.com/v1
        guesses = ["https://" + stripped]
    else:  # htps://..., HTTPS://..., or spaces around it
        near = closest(scheme.lower(), ("http", "https"))
        guesses = [f"{near}://{rest}"] if near else []
        guesses.append(stripped)
    guess = next((g for g in guesses if g != raw and is_http_url(g)), None)
    raise UsageError(
        f"{setting.name} must be an http(s) URL with a host, got {raw!r}"
        + (f": did you mean {guess!r}?" if guess else ""),
        hint=f"for example {DEFAULT_API_BASE}",
    )


def is_http_url(value: str) -> bool:
    """An absolute http(s) URL with a host, a valid port if any, no spaces or controls."""
    from urllib.parse import urlsplit

    if any(c.isspace() for c in value) or _CONTROL.search(value):
        return False
    try:
        parts = urlsplit(value)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:  # a port that is not a number, a bracket that does not close
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and port_ok


def choice(setting: Setting, raw: str) -> str:
    """One of `setting.choices`, in any case (the CLI's own options ignore case too)."""
    word = raw.strip().lower()
    if word in setting.choices:
        return word
    raise UsageError(
        f"{setting.name} must be one of {', '.join(setting.choices)}, got {raw!r}"
        + did_you_mean(word, setting.choices)
    )


def boolean(setting: Setting, raw: str) -> bool:
    """true/false, yes/no, on/off or 1/0, in any case."""
    word = raw.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise UsageError(
        f"{setting.name} must be true or false, got {raw!r}" + did_you_mean(word, (*_TRUE, *_FALSE))
    )


def event_patterns(setting: Setting, raw: str) -> list[str]:
    """Comma-separated event types or globs (`message.*`, `all`), each matching a type of the
    catalog. The patterns are kept as written, so a glob also covers types added later."""
    from apimw_cli import catalog

    patterns = [item.strip() for item in raw.split(",") if item.strip()]
    if not patterns:
        raise UsageError(
            f"{setting.name} needs at least one event type",
            hint=f"for example message.received,message.failed or all; "
            f"`apimw config unset {setting.name}` removes it",
        )
    for pattern in patterns:
        if not catalog.expand([pattern]):
            guess = catalog.suggest(pattern)
            raise UsageError(
                f"{setting.name} has an unknown event type {pattern!r}"
                + (f": did you mean {guess!r}?" if guess else ""),
                hint="`apimw events list` shows them all; globs (message.*) and `all` work too",
            )
    return patterns


@dataclass(frozen=True)
class Setting:
    """A setting users can see in `config show`; `settable` ones via `config set`.

    `parse` validates and converts a value given as text (see the validators above);
    `choices` are the values of a `choice` setting.
    """

    name: str
    help: str
    env: str | None = None
    default: Any = None
    secret: bool = False
    settable: bool = True
    parse: Parser = text
    choices: tuple[str, ...] = ()


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "api_base",
        "API base URL",
        env="APIMW_API_BASE",
        default=DEFAULT_API_BASE,
        parse=http_url,
    ),
    Setting(
        "output",
        "default output format",
        env="APIMW_OUTPUT",
        default="table",
        parse=choice,
        choices=OUTPUT_FORMATS,
    ),
    Setting(
        "timeout",
        "API read timeout in seconds",
        env="APIMW_TIMEOUT",
        default=30.0,
        parse=positive_number,
    ),
    Setting(
        "default_events",
        "events `listen` subscribes to",
        env="APIMW_EVENTS",
        parse=event_patterns,
    ),
    Setting("ngrok_authtoken", "ngrok authtoken", env="NGROK_AUTHTOKEN", secret=True),
    Setting("ngrok_path", "path of the ngrok binary", env="APIMW_NGROK_PATH"),
    Setting(
        "ngrok_region",
        "ngrok region (us, eu, ap, ...)",
        env="APIMW_NGROK_REGION",
        parse=choice,
        choices=NGROK_REGIONS,
    ),
    Setting("api_key", "API key (written by `apimw login`)", env=ENV_API_KEY, settable=False),
    Setting(
        "api_secret",
        "API secret (written by `apimw login`)",
        env=ENV_API_SECRET,
        secret=True,
        settable=False,
    ),
    Setting("token", "access token used as is", env=ENV_TOKEN, secret=True, settable=False),
)
SETTINGS_BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}


def lookup(name: str) -> Setting:
    try:
        return SETTINGS_BY_NAME[name]
    except KeyError:
        known = ", ".join(s.name for s in SETTINGS if s.settable)
        raise UsageError(
            f"unknown setting {name!r}" + did_you_mean(name, SETTINGS_BY_NAME),
            hint=f"known settings: {known}",
        ) from None


def parse_value(setting: Setting, raw: str) -> Any:
    """Turn a string from the command line or the environment into the setting's type."""
    return setting.parse(setting, raw)


def default_event_patterns(settings: Settings) -> list[str]:
    """The event patterns `listen` subscribes to without --events: `default_events` from the
    environment (APIMW_EVENTS) or the profile, validated; [] when it is not set (all events).

    Raises ConfigError naming where an invalid value comes from (the variable, or the profile).
    """
    setting = lookup("default_events")
    resolved = settings.resolve(setting.name)  # a bad APIMW_EVENTS: ConfigError naming it
    value = resolved.value
    if value is None:
        return []
    if resolved.source.startswith("env "):
        return list(value)
    # Flags never set it, so it comes from the profile: a file that may have been edited.
    if isinstance(value, str):
        raw = value
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        raw = ",".join(value)
    else:
        raise ConfigError(
            f"{setting.name} in {resolved.source} must be a list of event types",
            hint=f"`apimw config set {setting.name} message.received,message.failed` fixes it",
        )
    try:
        return list(parse_value(setting, raw))
    except UsageError as exc:
        raise ConfigError(f"{resolved.source}: {exc.message}", hint=exc.hint) from None


@dataclass(frozen=True)
class Value:
    """A resolved setting and where it came from (shown by `apimw config show`)."""

    value: Any
    source: str


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    override = env.get(ENV_CONFIG_DIR)
    if override:
        return Path(override).expanduser()
    import platformdirs  # only when a command needs files: keeps `--help` fast

    return Path(platformdirs.user_config_dir("apimw", appauthor=False))


def data_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where apimw keeps data: the sandbox's database, recorded listen sessions."""
    env = os.environ if env is None else env
    override = env.get(ENV_DATA_DIR)
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("apimw", appauthor=False))


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


@dataclass(frozen=True)
class Credentials:
    """What authenticates API calls: a bare token, or a key and secret to exchange."""

    source: str
    token: str | None = None
    api_key: str | None = None
    api_secret: str | None = None


class Settings:
    """Resolves every setting for one invocation, remembering where each value came from."""

    def __init__(
        self,
        *,
        profile: str | None = None,
        flags: Mapping[str, Any] | None = None,
        sandbox: bool = False,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.env: Mapping[str, str] = os.environ if env is None else env
        self.flags = {k: v for k, v in (flags or {}).items() if v is not None}
        self.sandbox = sandbox
        if profile is not None:
            self.profile, self.profile_source = profile, "flag --profile"
        elif self.env.get(ENV_PROFILE):
            self.profile, self.profile_source = self.env[ENV_PROFILE], f"env {ENV_PROFILE}"
        else:
            self.profile, self.profile_source = DEFAULT_PROFILE, "default"
        if not _PROFILE_NAME.fullmatch(self.profile):
            raise UsageError(
                f"invalid profile name {self.profile!r} ({self.profile_source})",
                hint="use letters, digits, '.', '_' and '-', starting with a letter or digit",
            )
        self.config_dir = config_dir(self.env)
        self.config = ConfigFile(self.config_dir / CONFIG_FILE_NAME)

    def _profile_label(self) -> str:
        return f"profile {self.profile!r} ({self.config.path})"

    def resolve(self, name: str) -> Value:
        setting = lookup(name)
        if name in self.flags:
            return Value(self.flags[name], f"flag --{name.replace('_', '-')}")
        if self.sandbox and name in ("api_base", "api_key", "api_secret", "token"):
            return self._sandbox_value(name)
        if setting.env and self.env.get(setting.env):
            raw = self.env[setting.env]
            try:
                return Value(parse_value(setting, raw), f"env {setting.env}")
            except UsageError as exc:
                raise ConfigError(f"{setting.env}: {exc.message}", hint=exc.hint) from None
        stored = self.config.profile(self.profile)
        if name in stored:
            return Value(stored[name], self._profile_label())
        return Value(setting.default, "default" if setting.default is not None else "unset")

    def _sandbox_value(self, name: str) -> Value:
        # Live credentials from the environment or a profile never go to the sandbox.
        if name == "api_base":
            url = self.env.get(ENV_SANDBOX_URL)
            if url:
                return Value(url, f"sandbox (env {ENV_SANDBOX_URL})")
            return Value(SANDBOX_API_BASE, "sandbox (--sandbox)")
        if name == "api_key":
            key = self.env.get(ENV_SANDBOX_API_KEY)
            if key:
                return Value(key, f"sandbox (env {ENV_SANDBOX_API_KEY})")
            return Value(SANDBOX_API_KEY, "sandbox (--sandbox)")
        if name == "api_secret":
            secret = self.env.get(ENV_SANDBOX_API_SECRET)
            if secret:
                return Value(secret, f"sandbox (env {ENV_SANDBOX_API_SECRET})")
            return Value(SANDBOX_API_SECRET, "sandbox (--sandbox)")
        return Value(None, "sandbox (--sandbox)")

    def get(self, name: str) -> Any:
        return self.resolve(name).value

    @property
    def api_base(self) -> str:
        return str(self.get("api_base")).rstrip("/")

    @property
    def output(self) -> OutputFormat:
        value = self.get("output")
        return "json" if value == "json" else "table"

    def credentials(self) -> Credentials:
        token = self.resolve("token")
        if token.value:
            return Credentials(source=token.source, token=str(token.value))
        key, secret = self.resolve("api_key"), self.resolve("api_secret")
        if key.value and secret.value:
            return Credentials(
                source=key.source, api_key=str(key.value), api_secret=str(secret.value)
            )
        if key.value or secret.value:
            missing = ENV_API_SECRET if key.value else ENV_API_KEY
            raise CredentialsError(
                f"incomplete credentials: the API key comes from {key.source} "
                f"but the secret from {secret.source}",
                hint=f"set {missing} too, or run `apimw login`",
            )
        raise CredentialsError(
            "no APIMW credentials",
            hint=f"run `apimw login`, set {ENV_API_KEY} and {ENV_API_SECRET} (or {ENV_TOKEN}), "
            "or try `--sandbox` with a local `apimw sandbox`",
        )

    def token_store(self, credentials: Credentials) -> TokenStore:
        """One cache per profile and API identity, so sandbox and live tokens never mix."""
        import hashlib

        identity = f"{self.api_base}\0{credentials.api_key or ''}"
        digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
        name = "sandbox" if self.sandbox else self.profile
        return TokenStore(self.config_dir / "tokens" / f"{name}-{digest}.json")
