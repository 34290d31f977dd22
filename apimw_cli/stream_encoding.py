"""Text written to stdout never fails on the stream's encoding.

Events, headers and names come from outside and may hold any character; a stdout in an
encoding that lacks one (a latin-1 locale, a pipe on Windows, PYTHONIOENCODING=ascii) would
raise UnicodeEncodeError on it with Python's default, strict errors. Instead such characters
are written as JSON's `\\u` escapes: in a JSON or NDJSON line a character outside ASCII can
only be inside a string, where the escape means the same character, and in text they are a
visible escape like `backslashreplace`'s.
"""

from __future__ import annotations

import codecs
import contextlib
from typing import IO

__all__ = ["JSON_ESCAPE", "escape_what_it_cannot_encode"]

JSON_ESCAPE = "apimw-json-escape"


def _json_escape(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    import json  # only when a character did not fit: nothing at start-up

    # ensure_ascii writes each as JSON does, a surrogate pair past U+FFFF. (Only what the
    # encoding lacks comes here: never a quote, backslash or control character, all ASCII.)
    return json.dumps(error.object[error.start : error.end])[1:-1], error.end


codecs.register_error(JSON_ESCAPE, _json_escape)


def escape_what_it_cannot_encode(stream: IO[str]) -> None:
    """Make a text stream with strict errors (stdout, as Python opens it) write what its
    encoding lacks as `\\u` escapes; a stream with other errors is left as it is."""
    if getattr(stream, "errors", None) != "strict":
        return
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None:
        with contextlib.suppress(ValueError, OSError):  # a detached or closed stream
            reconfigure(errors=JSON_ESCAPE)
