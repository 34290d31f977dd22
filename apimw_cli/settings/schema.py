"""What each setting is (SETTINGS) and how a value given as text is checked and converted.

Each setting names its parser where it is declared. A parser turns the text given to `apimw
config set` or found in the environment into the setting's value, or raises UsageError saying
what is wrong and, when the text is close to a valid value, which one it probably meant.
`Settings.resolve` turns that into a ConfigError naming the variable.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from apimw_cli.errors import UsageError
from apimw_cli.settings.names import (
    DEFAULT_API_BASE,
    DEFAULT_KEEP_SESSION_DAYS,
    DEFAULT_KEEP_SESSIONS,
    DEFAULT_TIMEOUT,
    ENV_API_BASE,
    ENV_API_KEY,
    ENV_API_SECRET,
    ENV_EVENTS,
    ENV_KEEP_SESSION_DAYS,
    ENV_KEEP_SESSIONS,
    ENV_NGROK_AUTHTOKEN,
    ENV_NGROK_PATH,
    ENV_NGROK_REGION,
    ENV_OUTPUT,
    ENV_TIMEOUT,
    ENV_TOKEN,
    NGROK_REGIONS,
    OUTPUT_FORMATS,
)

Parser = Callable[["Setting", str], Any]

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
        shown = "" if setting.secret else f", got {raw!r}"  # a secret is never echoed
        raise UsageError(f"{setting.name} cannot contain control characters{shown}")
    return raw


def whole_number(setting: Setting, raw: str) -> int:
    """A whole number, 0 or more (a count; 0 turns the limit off)."""
    word = raw.strip()
    if not (word.isascii() and word.isdigit()) or len(word) > 9:
        raise UsageError(
            f"{setting.name} must be a whole number (0 or more), got {raw!r}",
            hint="for example 100; 0 turns the limit off",
        )
    return int(word)


def non_negative_number(setting: Setting, raw: str) -> float:
    """A finite number, 0 or more (days; 0 turns the limit off)."""
    import math

    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise UsageError(
            f"{setting.name} must be a number, 0 or more, got {raw!r}",
            hint="for example 30; 0 turns the limit off",
        )
    return value


def positive_seconds(setting: Setting, raw: str) -> float:
    """A duration above 0, as options take it (`30`, `30s`, `2m`): one meaning for a time,
    whether it comes from `--timeout`, APIMW_TIMEOUT or the profile."""
    from apimw_cli.durations import positive_duration

    try:
        return positive_duration(raw.strip())
    except ValueError:
        raise UsageError(
            f"{setting.name} must be a duration above 0, got {raw!r}",
            hint="for example 30, 30s or 2m (a bare number is seconds)",
        ) from None


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
        env=ENV_API_BASE,
        default=DEFAULT_API_BASE,
        parse=http_url,
    ),
    Setting(
        "output",
        "default output format",
        env=ENV_OUTPUT,
        default="table",
        parse=choice,
        choices=OUTPUT_FORMATS,
    ),
    Setting(
        "timeout",
        "API read timeout (a duration: 30, 30s, 2m)",
        env=ENV_TIMEOUT,
        default=DEFAULT_TIMEOUT,
        parse=positive_seconds,
    ),
    Setting(
        "default_events",
        "events `listen` subscribes to",
        env=ENV_EVENTS,
        parse=event_patterns,
    ),
    Setting("ngrok_authtoken", "ngrok authtoken", env=ENV_NGROK_AUTHTOKEN, secret=True),
    Setting("ngrok_path", "path of the ngrok binary", env=ENV_NGROK_PATH),
    Setting(
        "ngrok_region",
        "ngrok region (us, eu, ap, ...)",
        env=ENV_NGROK_REGION,
        parse=choice,
        choices=NGROK_REGIONS,
    ),
    Setting(
        "keep_sessions",
        "recorded listen sessions kept (0: no limit)",
        env=ENV_KEEP_SESSIONS,
        default=DEFAULT_KEEP_SESSIONS,
        parse=whole_number,
    ),
    Setting(
        "keep_session_days",
        "days a recorded listen session is kept (0: no limit)",
        env=ENV_KEEP_SESSION_DAYS,
        default=DEFAULT_KEEP_SESSION_DAYS,
        parse=non_negative_number,
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
