"""`listen --expect`, `--where` and `--expect-message`: which events the session waits for.

A condition is PATH=VALUE: a dotted path into the event's JSON body and the text it must hold
(values compared as strings: "true", "3", "null" for JSON true, 3 and null). Several conditions
must all hold. A value `@FILE` is read from FILE once it has text, so a CI script can start
`listen` first and write the id of the message it sends afterwards; events that came before the
file was written still count (their values are kept, a bounded number).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apimw_cli import catalog
from apimw_cli.errors import UsageError
from apimw_cli.models import Forwarded, Received

__all__ = [
    "Condition",
    "Matcher",
    "expect_message",
    "matching",
    "parse_expectations",
    "parse_where",
]

MESSAGE_EVENTS = "message.*"
MAX_PENDING = 10_000  # distinct (type, values) kept while an @FILE value is not known yet


@dataclass(frozen=True)
class Condition:
    path: tuple[str, ...]
    value: str  # the text wanted, or @FILE

    def __str__(self) -> str:
        return f"{'.'.join(self.path)}={self.value}"

    def wanted(self) -> str | None:
        """The text wanted: the value, or FILE's text (None while FILE is missing or empty)."""
        if not self.value.startswith("@"):
            return self.value
        try:
            text = Path(self.value[1:]).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            return None
        return text or None


def parse_where(values: Sequence[str], option: str = "--where") -> tuple[Condition, ...]:
    """`PATH=VALUE` strings -> conditions; a usage error names a malformed one."""
    conditions = []
    for text in values:
        path, sep, value = text.partition("=")
        parts = tuple(path.strip().split("."))
        if not sep or not all(parts) or not value:
            raise UsageError(
                f"{option} {text!r}: expected PATH=VALUE",
                hint="a dotted path into the event's JSON body and the value it must have, "
                "for example --where data.message_id=wamid.X",
            )
        conditions.append(Condition(parts, value))
    return tuple(conditions)


def expect_message(message_id: str) -> tuple[str, Condition]:
    """--expect-message ID: the pattern and condition it stands for."""
    if not message_id.strip():
        raise UsageError("--expect-message needs a message id", hint="as `messages send` prints")
    return MESSAGE_EVENTS, Condition(("data", "message_id"), message_id.strip())


def parse_expectations(values: Sequence[str]) -> dict[str, int]:
    """--expect `TYPE[:COUNT]` (TYPE may be a glob) -> {pattern: count}."""
    wanted: dict[str, int] = {}
    for value in values:
        pattern, _, count = value.partition(":")
        if not catalog.expand([pattern]):
            guess = catalog.suggest(pattern)
            raise UsageError(
                f"--expect {value!r}: unknown event type"
                + (f"; did you mean {guess!r}?" if guess else "")
            )
        if count and (not count.isdigit() or int(count) < 1):
            raise UsageError(f"--expect {value!r}: the count must be a whole number from 1")
        wanted[pattern] = wanted.get(pattern, 0) + (int(count) if count else 1)
    return wanted


def matching(
    expect: Sequence[str], where: Sequence[str], message_id: str | None
) -> tuple[dict[str, int], tuple[Condition, ...]]:
    """--expect, --where and --expect-message -> (pattern -> count, the conditions)."""
    expectations = parse_expectations(expect)
    conditions = parse_where(where)
    if message_id is not None:
        pattern, condition = expect_message(message_id)
        expectations = {**expectations, pattern: max(1, expectations.get(pattern, 0))}
        conditions += (condition,)
    if conditions and not expectations:
        raise UsageError(
            "--where needs --expect: it says which of the expected events count",
            hint="for example --expect message.read --where data.message_id=wamid.X",
        )
    return expectations, conditions


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def field_text(payload: Any, path: Sequence[str]) -> str | None:
    """The value at `path` (object keys; list indexes as numbers) as text, or None if absent."""
    node = payload
    for part in path:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return _as_text(node)


def _counted(record: Received | Forwarded) -> bool:
    """Whether the tally counts `record` by type (models.Tally.add): only those may match."""
    return (
        isinstance(record, Received)
        and record.kind == "event"
        and record.record_error is None
        and not record.duplicate
        and not record.filtered
    )


class Matcher:
    """Counts, by type, the events whose body meets every condition. Not thread-safe: the feed
    calls it under its lock, on the receiver's thread."""

    def __init__(self, conditions: Sequence[Condition]) -> None:
        self.conditions = tuple(conditions)
        self.matched: Counter[str] = Counter()
        self._wanted: tuple[str, ...] | None = None
        self._pending: Counter[tuple[str, tuple[str | None, ...]]] = Counter()
        self._resolve()

    def _resolve(self) -> None:
        wanted = [c.wanted() for c in self.conditions]
        if any(w is None for w in wanted):
            return
        self._wanted = tuple(w for w in wanted if w is not None)
        for (event_type, values), count in self._pending.items():
            if values == self._wanted:
                self.matched[event_type] += count
        self._pending.clear()

    def add(self, record: Received | Forwarded) -> None:
        if not isinstance(record, Received) or not _counted(record):
            return
        try:
            payload = json.loads(record.body)
        except ValueError:
            payload = None
        values = tuple(field_text(payload, c.path) for c in self.conditions)
        event_type = record.event_type or "?"
        if self._wanted is None:
            self._resolve()
        if self._wanted is not None:
            if values == self._wanted:
                self.matched[event_type] += 1
        elif (event_type, values) in self._pending or len(self._pending) < MAX_PENDING:
            self._pending[(event_type, values)] += 1

    def counts(self) -> Counter[str]:
        """Matching events by type (an @FILE value written since the last event is read now)."""
        if self._wanted is None:
            self._resolve()
        return self.matched
