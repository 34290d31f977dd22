"""Making untrusted text safe to show: nothing from outside reaches a terminal as a control.

Text that came from a request, a forward target's answer or a recorded file may carry escape
sequences (OSC 2 retitles the window, CSI 2J clears it, U+009B is an 8-bit CSI), bidi overrides
that reorder what is read, or lone surrogates that no terminal encoding can write. Everything
that prints such text goes through `visible` (one line) or `visible_lines` (a block whose own
line breaks we keep), and JSON through `json_text`.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["JSON_UNSAFE", "clip", "is_visible", "json_text", "visible", "visible_lines"]

# C0, DEL, C1, line/paragraph separators, bidi embeddings/overrides/isolates and marks, and
# lone surrogates (only text decoded with surrogateescape or from JSON escapes carries them).
_NOT_C0 = "\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_UNSAFE_CHAR = re.compile(f"[\x00-\x1f{_NOT_C0}]")
_UNSAFE_BUT_NEWLINE = re.compile(f"[\x00-\x09\x0b-\x1f{_NOT_C0}]")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}

# In JSON, C0 is always escaped by the encoder; the rest (bidi controls too) it leaves raw,
# so `json_text` escapes them (and output/ndjson.py checks orjson's text for them).
JSON_UNSAFE = re.compile(f"[{_NOT_C0}]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def is_visible(text: str) -> bool:
    """Whether `visible(text)` is `text` itself: nothing in it to escape."""
    return _UNSAFE_CHAR.search(text) is None


def visible(text: str) -> str:
    """`text` on one line, every control character as a visible escape (`\\x1b`, `\\n`)."""
    if _UNSAFE_CHAR.search(text) is None:
        return text
    return _UNSAFE_CHAR.sub(_escape, text)


def visible_lines(text: str) -> str:
    """Like `visible`, but line feeds stay line feeds (for a body shown over several lines)."""
    if _UNSAFE_BUT_NEWLINE.search(text) is None:
        return text
    return _UNSAFE_BUT_NEWLINE.sub(_escape, text)


def clip(text: str, limit: int) -> str:
    """At most `limit` characters of `text`, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def json_text(
    data: Any, *, indent: int | None = None, default: Any = str, allow_nan: bool = True
) -> str:
    """`data` as JSON (one line without `indent`, no final newline) that is safe on a terminal
    and in any UTF-8 stream: non-ASCII stays readable, but DEL, C1, U+2028/U+2029, bidi
    controls and lone surrogates are written as `\\u` escapes, which every JSON reader decodes
    back to the same text.

    Raises RecursionError for data nested too deep to encode, and ValueError for a NaN or an
    infinity when not `allow_nan` (Python writes them as NaN/Infinity, which are not JSON).
    """
    text = json.dumps(data, ensure_ascii=False, indent=indent, default=default, allow_nan=allow_nan)
    if JSON_UNSAFE.search(text) is None:
        return text
    return JSON_UNSAFE.sub(_json_escape, text)
