"""The event types APIMW sends, with descriptions and realistic sample payloads.

The sandbox sends these samples and `apimw events show` prints them, so what a developer reads
is what their endpoint will get. Shapes follow docs/apimw-api.md ([doc] and [contract]).
"""

from __future__ import annotations

import fnmatch
import random
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from apimw_cli.errors import UsageError


@dataclass(frozen=True)
class EventType:
    name: str
    description: str
    fields: tuple[str, ...]
    # False where APIMW names the type but not its data: the sample is our contract
    # (docs/apimw-api.md, "Events"), and every place a user sees it says so.
    documented: bool = True


UNDOCUMENTED = "data shape not documented by APIMW"


EVENT_TYPES: tuple[EventType, ...] = (
    EventType(
        "message.sent",
        "An outgoing message was accepted and sent to WhatsApp.",
        ("message_id", "to", "message_type"),
    ),
    EventType(
        "message.delivered",
        "An outgoing message reached the recipient's device.",
        ("message_id", "to"),
    ),
    EventType("message.read", "The recipient read an outgoing message.", ("message_id", "to")),
    EventType(
        "message.received",
        "A customer sent a message to your number.",
        ("message_id", "from", "message_type", "text", "contact"),
    ),
    EventType(
        "message.failed",
        "An outgoing message could not be delivered.",
        ("message_id", "to", "error"),
    ),
    EventType(
        "account.connected",
        "A WhatsApp Business number was connected to the account.",
        ("account_id", "phone_number"),
        documented=False,
    ),
    EventType(
        "account.disconnected",
        "A WhatsApp Business number was disconnected.",
        ("account_id", "phone_number"),
        documented=False,
    ),
    EventType(
        "quota.warning",
        "80 % of the plan's message quota is used.",
        ("quota", "used", "limit", "period"),
        documented=False,
    ),
    EventType(
        "quota.exceeded",
        "The plan's message quota is used up; sends are refused.",
        ("quota", "used", "limit", "period"),
        documented=False,
    ),
)
EVENT_NAMES: tuple[str, ...] = tuple(e.name for e in EVENT_TYPES)
_BY_NAME = {e.name: e for e in EVENT_TYPES}
VERIFICATION_TYPE = "webhook.verification"

# WhatsApp error codes a failed message may carry (code, message).
_FAILURES = (
    (
        "131047",
        "Re-engagement message: more than 24 hours have passed since the recipient last replied"
        " to the sender number",
    ),
    ("131026", "Message undeliverable: the recipient is not a WhatsApp user"),
    ("131051", "Unsupported message type"),
    ("130429", "Rate limit hit: too many messages sent to this number"),
)
_CONTACTS = (
    ("Maria Garcia", "+14155550123"),
    ("Kwame Mensah", "+233245550188"),
    ("Priya Sharma", "+919820055512"),
    ("Lukas Schmidt", "+4915205550172"),
    ("Ana Souza", "+5511955501234"),
)
_TEXTS = (
    "Hi! Is my order on its way?",
    "Can I change the delivery address?",
    "Thanks, that worked 👍",
    "What time do you open tomorrow?",
    "STOP",
)


def get(name: str) -> EventType | None:
    return _BY_NAME.get(name)


def suggest(name: str) -> str | None:
    """The closest known event name, for "did you mean ...?"."""
    import difflib

    matches = difflib.get_close_matches(name, EVENT_NAMES, n=1, cutoff=0.6)
    return matches[0] if matches else None


def expand(patterns: list[str]) -> list[str]:
    """Event names matching names or globs (`message.*`, `all`), in catalog order."""
    wanted: list[str] = []
    for pattern in patterns:
        if pattern in ("all", "*"):
            return list(EVENT_NAMES)
        wanted.extend(n for n in EVENT_NAMES if fnmatch.fnmatchcase(n, pattern))
    return [n for n in EVENT_NAMES if n in set(wanted)]


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def message_id(rng: random.Random | None = None) -> str:
    """`wamid.` ids as WhatsApp makes them: base64-ish, about 40 characters."""
    alphabet = string.ascii_letters + string.digits
    if rng is None:
        return "wamid.HBgL" + "".join(secrets.choice(alphabet) for _ in range(32))
    return "wamid.HBgL" + "".join(rng.choice(alphabet) for _ in range(32))


def sample_data(name: str, rng: random.Random | None = None) -> dict[str, Any]:
    """A realistic `data` object for an event type."""
    pick = rng or random.Random()
    contact_name, phone = pick.choice(_CONTACTS)
    if name == "message.sent":
        return {"message_id": message_id(rng), "to": phone, "message_type": "text"}
    if name in ("message.delivered", "message.read"):
        return {"message_id": message_id(rng), "to": phone}
    if name == "message.received":
        return {
            "message_id": message_id(rng),
            "from": phone,
            "message_type": "text",
            "text": pick.choice(_TEXTS),
            "contact": {"name": contact_name, "wa_id": phone.lstrip("+")},
        }
    if name == "message.failed":
        code, message = pick.choice(_FAILURES)
        return {
            "message_id": message_id(rng),
            "to": phone,
            "error": {"code": code, "message": message},
        }
    if name in ("account.connected", "account.disconnected"):
        return {"account_id": f"acc_{pick.randrange(16**10):010x}", "phone_number": "+14155550100"}
    if name in ("quota.warning", "quota.exceeded"):
        limit = 1000
        used = 800 if name == "quota.warning" else 1000
        return {
            "quota": "messages",
            "used": used,
            "limit": limit,
            "period": datetime.now(UTC).strftime("%Y-%m"),
        }
    raise KeyError(name)


def envelope(name: str, data: Mapping[str, Any], timestamp: str | None = None) -> dict[str, Any]:
    """The documented event envelope: type, timestamp, data."""
    return {"type": name, "timestamp": timestamp or now_iso(), "data": dict(data)}


def sample(name: str, rng: random.Random | None = None) -> dict[str, Any]:
    return envelope(name, sample_data(name, rng))


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `override` laid over it, nested objects merged key by key."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def parse_events(values: list[str]) -> list[str]:
    """Event names from repeated and comma-separated values; `all` and globs expand.

    A typo fails before any request, with the closest known name.
    """
    names: list[str] = []
    for value in values:
        for item in (part.strip() for part in value.split(",")):
            if not item:
                continue
            expanded = expand([item])
            if not expanded:
                guess = suggest(item)
                raise UsageError(
                    f"unknown event type {item!r}"
                    + (f": did you mean {guess!r}?" if guess else ""),
                    hint="`apimw events list` shows them all; `all` subscribes to every one",
                )
            names.extend(n for n in expanded if n not in names)
    return names
