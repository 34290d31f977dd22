"""Reading and checking request bodies and query parameters; every refusal is a 400 that names
the field first ("url: must ...")."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.requests import Request

from apimw_cli import catalog
from apimw_cli.sandbox.context import sandbox_of
from apimw_cli.sandbox.envelopes import Problem, invalid
from apimw_cli.sandbox.jsonbody import parse_object

E164 = re.compile(r"\+[1-9][0-9]{6,14}")  # fullmatch: no other digits, no trailing newline
_ASCII_DIGITS = re.compile(r"[0-9]{1,9}")  # 9 digits: int() never sees a huge string
_CONTENT_LENGTH = re.compile(r"[0-9]{1,18}")
# Lists: the docs show `per_page` 20 (whatsapp-templates-list) and no maximum; ours is 100.
DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
MAX_PAGE = 1_000_000
MAX_MESSAGE = 4096
MAX_DESCRIPTION = 500
MAX_SECRET = 256

T = TypeVar("T")


async def read_json(request: Request, *, body_optional: bool = False) -> dict[str, Any]:
    """The body as a JSON object, refusing oversized, non-UTF-8 and malformed bodies."""
    raw = await _read_body(request, sandbox_of(request).config.max_body)
    if not raw.strip():
        if body_optional:
            return {}
        raise invalid("body", "a JSON object is required")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid("body", "not valid UTF-8") from None
    return parse_object(text)


async def read_fields(
    request: Request, allowed: frozenset[str], *, body_optional: bool = False
) -> dict[str, Any]:
    """The body as a JSON object with no field outside `allowed`; with `body_optional`, an
    empty body reads as `{}`."""
    body = await read_json(request, body_optional=body_optional)
    check_unknown(body, allowed)
    return body


async def _read_body(request: Request, limit: int) -> bytes:
    """The raw body, stopping as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length", "")
    # ASCII digits only (`²` is a digit to str.isdigit), and few enough for int().
    if _CONTENT_LENGTH.fullmatch(declared) and int(declared) > limit:
        raise invalid("body", f"larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise invalid("body", f"larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def whole_number(request: Request, name: str, default: int, largest: int) -> int:
    """A query parameter from 1 to `largest`, in ASCII digits (`²` is a digit to str.isdigit,
    not a number)."""
    raw = request.query_params.get(name, str(default))
    if not _ASCII_DIGITS.fullmatch(raw) or not 1 <= int(raw) <= largest:
        raise invalid(name, f"must be a whole number from 1 to {largest}")
    return int(raw)


@dataclass(frozen=True)
class Page:
    """Which slice of a list the request asked for (`?page=` from 1, `?per_page=`)."""

    page: int
    per_page: int

    def of(self, items: Sequence[T]) -> list[T]:
        start = (self.page - 1) * self.per_page
        return list(items[start : start + self.per_page])

    def pagination(self, total: int) -> dict[str, int]:
        """The documented object (whatsapp-templates-list), exactly its three fields."""
        return {"total": total, "page": self.page, "per_page": self.per_page}


def page_of(request: Request, *, per_page_alias: str | None = None) -> Page:
    """`?page=` and `?per_page=` checked; a per_page above MAX_PER_PAGE is lowered to it (the
    answer's `per_page` says so), as APIs that cap page sizes do. `per_page_alias` names an
    older parameter meaning per_page (`limit`), used when per_page is absent."""
    page = whole_number(request, "page", 1, MAX_PAGE)
    name = "per_page"
    if (
        per_page_alias
        and name not in request.query_params
        and per_page_alias in request.query_params
    ):
        name = per_page_alias
    per_page = whole_number(request, name, DEFAULT_PER_PAGE, MAX_PAGE)
    return Page(page, min(per_page, MAX_PER_PAGE))


def check_unknown(body: Mapping[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise invalid(unknown[0], f"unknown field (allowed: {', '.join(sorted(allowed))})")


def require_str(body: Mapping[str, Any], name: str, *, max_len: int | None = None) -> str:
    value = body.get(name)
    if value is None:
        raise invalid(name, "is required")
    if not isinstance(value, str):
        raise invalid(name, "must be a string")
    if not value.strip():
        raise invalid(name, "must not be empty")
    if max_len is not None and len(value) > max_len:
        raise invalid(name, f"must be at most {max_len} characters")
    return value


def optional(body: Mapping[str, Any], name: str, kind: type, what: str) -> Any:
    """`body[name]` when present and of `kind` (a bool is not an int here), None when absent."""
    if name not in body or body[name] is None:
        return None
    value = body[name]
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise invalid(name, f"must be {what}")
    return value


def check_phone(body: Mapping[str, Any], name: str, message: str) -> str:
    """An E.164 number; APIMW answers a bad one with its own code, not VALIDATION_ERROR."""
    value = body.get(name)
    if not isinstance(value, str) or not E164.fullmatch(value):
        raise Problem(400, "INVALID_PHONE_NUMBER", f"{name}: {message}")
    return value


def check_event_type(name: str, value: str) -> str:
    """A type from the catalog; the refusal suggests the closest one."""
    if catalog.get(value) is None:
        guess = catalog.suggest(value)
        hint = f" (did you mean {guess!r}?)" if guess else ""
        raise invalid(name, f"unknown event type {value!r}{hint}")
    return value


# --- webhook fields ------------------------------------------------------------------------------


def check_events(value: Any) -> list[str]:
    """A non-empty list of known event types, duplicates dropped, order kept."""
    if not isinstance(value, list):
        raise invalid("events", "must be a list of event types")
    if not value:
        raise invalid("events", "must not be empty")
    events: list[str] = []
    for item in value:
        if not isinstance(item, str):
            raise invalid("events", "must hold strings")
        check_event_type("events", item)
        if item not in events:
            events.append(item)
    return events


def check_secret(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise invalid("secret", "must be a non-empty string")
    if len(value) > MAX_SECRET:
        raise invalid("secret", f"must be at most {MAX_SECRET} characters")
    return value


def check_description(body: Mapping[str, Any]) -> str | None:
    description: str | None = optional(body, "description", str, "a string")
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise invalid("description", f"must be at most {MAX_DESCRIPTION} characters")
    return description
