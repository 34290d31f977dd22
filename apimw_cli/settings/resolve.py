"""Where every setting comes from: flag > environment > profile > default, with provenance."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from apimw_cli.errors import ConfigError, CredentialsError, UsageError
from apimw_cli.settings.files import ConfigFile, config_dir
from apimw_cli.settings.names import (
    CONFIG_FILE_NAME,
    DEFAULT_PROFILE,
    ENV_API_KEY,
    ENV_API_SECRET,
    ENV_CONFIG_DIR,
    ENV_PROFILE,
    ENV_SANDBOX_API_KEY,
    ENV_SANDBOX_API_SECRET,
    ENV_SANDBOX_URL,
    ENV_TOKEN,
    SANDBOX_API_BASE,
    SANDBOX_API_KEY,
    SANDBOX_API_SECRET,
    OutputFormat,
)
from apimw_cli.settings.schema import closest, lookup, parse_value
from apimw_cli.settings.tokens import TokenStore

# Profile names become file names (the token cache): keep them tame.
_PROFILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")

# With --sandbox: setting -> (the variable that overrides it, the sandbox's fixed value).
_SANDBOX_VALUES: dict[str, tuple[str, str]] = {
    "api_base": (ENV_SANDBOX_URL, SANDBOX_API_BASE),
    "api_key": (ENV_SANDBOX_API_KEY, SANDBOX_API_KEY),
    "api_secret": (ENV_SANDBOX_API_SECRET, SANDBOX_API_SECRET),
}


@dataclass(frozen=True)
class Value:
    """A resolved setting and where it came from (shown by `apimw config show`)."""

    value: Any
    source: str


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
            # A bad flag is a usage error (2); a bad environment, like every other one, is a
            # configuration error (3) naming the variable.
            error = UsageError if profile is not None else ConfigError
            raise error(
                f"invalid profile name {self.profile!r} ({self.profile_source})",
                hint="use letters, digits, '.', '_' and '-', starting with a letter or digit",
            )
        self.config_dir = config_dir(self.env)
        # A directory named in APIMW_CONFIG_DIR may be shared ($HOME, say): never chmod it.
        named = bool(self.env.get(ENV_CONFIG_DIR))
        self.config = ConfigFile(self.config_dir / CONFIG_FILE_NAME, own_dir=not named)

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
                hint = exc.hint or f"set {setting.env} to a valid value, or unset it"
                raise ConfigError(f"{setting.env}: {exc.message}", hint=hint) from None
        stored = self.config.profile(self.profile)
        if name in stored:
            return Value(stored[name], self._profile_label())
        return Value(setting.default, "default" if setting.default is not None else "unset")

    def _sandbox_value(self, name: str) -> Value:
        # Live credentials from the environment or a profile never go to the sandbox.
        if name not in _SANDBOX_VALUES:
            return Value(None, "sandbox (--sandbox)")
        variable, fixed = _SANDBOX_VALUES[name]
        given = self.env.get(variable)
        if given:
            return Value(given, f"sandbox (env {variable})")
        return Value(fixed, "sandbox (--sandbox)")

    def get(self, name: str) -> Any:
        return self.resolve(name).value

    @property
    def api_base(self) -> str:
        return str(self.get("api_base")).rstrip("/")

    @property
    def output(self) -> OutputFormat:
        resolved = self.resolve("output")  # a bad APIMW_OUTPUT: ConfigError naming it
        if resolved.value == "json":
            return "json"
        if resolved.value in (None, "table"):
            return "table"
        raise ConfigError(  # a profile edited by hand: never a silent fallback to a table
            f"output in {resolved.source} must be table or json, got {resolved.value!r}",
            hint="`apimw config set output table` fixes it",
        )

    def require_profile(self) -> None:
        """A profile chosen by name (--profile, APIMW_PROFILE) must exist in the config file:
        `-p stagng` is a typo to report, not an empty profile to use."""
        if self.profile_source == "default":
            return
        names = self.config.profile_names()
        if self.profile in names:
            return
        listed = ", ".join(repr(n) for n in names) if names else "none yet"
        guess = closest(self.profile, names)
        raise ConfigError(
            f"profile {self.profile!r} ({self.profile_source}) does not exist"
            + (f": did you mean {guess!r}?" if guess else ""),
            hint=f"profiles in {self.config.path}: {listed}; "
            f"`apimw -p {self.profile} login` creates it",
        )

    def credentials(self) -> Credentials:
        token = self.resolve("token")
        if token.value:
            return Credentials(source=token.source, token=str(token.value))
        key, secret = self.resolve("api_key"), self.resolve("api_secret")
        if key.value and secret.value:
            return Credentials(
                source=key.source, api_key=str(key.value), api_secret=str(secret.value)
            )
        if not (key.value or secret.value):
            self.require_profile()  # `-p stagng whoami`: the typo, not "no credentials"
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


def session_retention(settings: Settings) -> tuple[int, float]:
    """(keep_sessions, keep_session_days) for pruning listen's session logs, validated: a value
    edited by hand into the profile that is not a number 0 or more is a ConfigError."""
    limits: list[float] = []
    for name in ("keep_sessions", "keep_session_days"):
        resolved = settings.resolve(name)  # a bad environment value: ConfigError naming it
        value = resolved.value
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1e9:
            raise ConfigError(
                f"{name} in {resolved.source} must be a number, 0 or more, got {value!r}",
                hint=f"`apimw config set {name} {lookup(name).default:g}` fixes it",
            )
        limits.append(value)
    return int(limits[0]), float(limits[1])
