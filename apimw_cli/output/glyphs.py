"""Our own symbols in text output (the live view's arrows and ticks, a success's tick), with an
ASCII stand-in for each one a stream's encoding lacks.

A stdout that is not UTF-8 (a pipe or a file on Windows is cp1252; a legacy latin-1 locale)
cannot carry an arrow: stream_encoding writes it as `\\u2192`, readable but ugly on every line.
Each symbol is chosen on its own (cp1252 has the dash and the ellipsis, not the arrow or the
tick). Only our symbols are replaced here: what a sender wrote is shown as it is, or escaped.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields

__all__ = ["ASCII", "UNICODE", "Glyphs", "glyphs_for"]


@dataclass(frozen=True, slots=True)
class Glyphs:
    arrow: str = "→"  # an event received, a request sent
    check: str = "✓"  # a good signature, a success
    cross: str = "✗"  # a refused event, a failed delivery
    forward: str = "↳"  # a forward's result, under its event
    dash: str = "—"  # between an event and why it was refused
    ellipsis: str = "…"  # more text than is shown


UNICODE = Glyphs()
ASCII = Glyphs(arrow="->", check="ok", cross="x", forward="->", dash="-", ellipsis="...")


@functools.lru_cache(maxsize=16)
def _for_encoding(encoding: str) -> Glyphs:
    chosen = {}
    for field in fields(Glyphs):
        glyph = getattr(UNICODE, field.name)
        try:
            glyph.encode(encoding)
        except (UnicodeEncodeError, LookupError):  # LookupError: an encoding no codec knows
            glyph = getattr(ASCII, field.name)
        chosen[field.name] = glyph
    return Glyphs(**chosen)


def glyphs_for(stream: object) -> Glyphs:
    """The symbols `stream` can carry. A stream that names no encoding (a StringIO) holds
    text, not bytes: it gets them all."""
    encoding = getattr(stream, "encoding", None)
    if not isinstance(encoding, str) or not encoding:
        return UNICODE
    return _for_encoding(encoding)
