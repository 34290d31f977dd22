"""Durations as options take them: `90`, `90s`, `2m`, `1h30m` (a bare number is seconds).

One parser for every option that takes a time, so `--timeout 30s` means the same everywhere.
"""

from __future__ import annotations

import re

DURATION_HELP = "DURATION (e.g. 30s, 2m; a bare number is seconds)"

_DURATION = re.compile(
    r"\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s?)?\s*"
)


def parse_duration(text: str | float) -> float:
    """`90`, `90s`, `2m`, `1h30m`, `0.5` -> seconds; ValueError when it is not a duration.

    A number (an option's default) is already seconds."""
    if isinstance(text, int | float):
        return float(text)
    match = _DURATION.fullmatch(text)
    if not text.strip() or match is None or not any(match.groups()):
        raise ValueError(f"{text!r} is not a duration (for example 30s, 2m, 1h30m, or 90)")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def format_duration(seconds: float) -> str:
    """3600 -> `1h`, 90 -> `1m30s`, 0.5 -> `0.5s`: the way durations are written to us."""
    whole = int(seconds)
    if whole != seconds or whole < 60:
        return f"{seconds:g}s"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(hours, "h"), (minutes, "m"), (secs, "s")]
    return "".join(f"{n}{unit}" for n, unit in parts if n)


def positive_duration(text: str | float) -> float:
    """An option's time that must be above zero (a timeout)."""
    seconds = parse_duration(text)
    if seconds <= 0:
        raise ValueError(f"{text!r}: must be more than 0 seconds")
    return seconds


def duration(text: str | float) -> float:
    """An option's time that may be zero (a delay)."""
    return parse_duration(text)
