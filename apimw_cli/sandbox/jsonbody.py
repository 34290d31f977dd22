"""Request bodies parsed as JSON within limits, so that hostile input is a 400, never a 500.

Python's json module alone turns some inputs into crashes or into values nothing downstream
can handle: nesting a thousand deep (RecursionError, in the parser or in any later json.dumps),
an integer of more than 4,300 digits (ValueError), NaN and Infinity (not JSON; json.dumps writes
them back as invalid JSON into deliveries), and `\\ud800` escapes, which make strings with lone
surrogates that neither SQLite nor UTF-8 can store. Each is refused here, naming the field.
"""

from __future__ import annotations

import json
import math
import operator
import re
from itertools import accumulate, count
from typing import Any, NoReturn

from apimw_cli.sandbox.envelopes import Problem, invalid

MAX_DEPTH = 32  # nesting of arrays and objects; the deepest documented body needs 5
MAX_NUMBER_DIGITS = 100  # characters of a number literal: far beyond any real amount or id
_ESCAPE = re.compile(r"\\.", re.DOTALL)  # removed first, so `"` inside strings is gone too
_STRING = re.compile(r'"[^"]*"')  # then strings are quote to quote: linear, no backtracking
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
# For the depth scan: an opening bracket counts 2 and a closing one 0, so the running sum minus
# the count so far is the depth (see _too_deep).
_STEPS = str.maketrans({"[": "\x02", "{": "\x02", "]": "\x00", "}": "\x00"})


class _Refused(Exception):
    """Raised from inside json.loads's hooks; not a ValueError, so it is never mistaken for
    one of json's own."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def parse_object(text: str) -> dict[str, Any]:
    """`text` as a JSON object whose every value the sandbox can store, send and sign."""
    if _too_deep(text, MAX_DEPTH):
        raise invalid("body", f"nested more than {MAX_DEPTH} levels deep")
    try:
        parsed = json.loads(
            text, parse_int=_integer, parse_float=_fraction, parse_constant=_constant
        )
    except _Refused as refused:
        raise refused.problem from None
    except json.JSONDecodeError as exc:
        raise invalid(
            "body", f"malformed JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    except (ValueError, RecursionError) as exc:  # the scan above should leave none
        raise invalid("body", f"not acceptable JSON ({exc.__class__.__name__})") from None
    if not isinstance(parsed, dict):
        raise invalid("body", "must be a JSON object")
    if _SURROGATE_ESCAPE.search(text):
        _check_unicode(parsed)
    return parsed


def _too_deep(text: str, limit: int) -> bool:
    """Whether arrays and objects nest more than `limit` deep, found without parsing (and so
    without recursion) in a few linear passes that run in C."""
    if text.count("[") + text.count("{") <= limit:
        return False
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", _ESCAPE.sub("", text)))
    if not brackets:
        return False
    steps = brackets.translate(_STEPS).encode("latin-1")
    depth: int = max(map(operator.sub, accumulate(steps), count(1)))
    return depth > limit


def _integer(literal: str) -> int:
    if len(literal) > MAX_NUMBER_DIGITS:
        _refuse(f"a number longer than {MAX_NUMBER_DIGITS} digits")
    return int(literal)


def _fraction(literal: str) -> float:
    if len(literal) > MAX_NUMBER_DIGITS:
        _refuse(f"a number longer than {MAX_NUMBER_DIGITS} digits")
    value = float(literal)
    if not math.isfinite(value):
        _refuse(f"a number too large to be a double ({literal[:20]}...)")
    return value


def _constant(name: str) -> NoReturn:
    _refuse(f"{name}, which is not JSON")


def _refuse(what: str) -> NoReturn:
    raise _Refused(invalid("body", f"holds {what}"))


def _check_unicode(body: dict[str, Any]) -> None:
    """Refuse lone surrogates (`"\\ud800"` with no partner) anywhere, naming the top-level
    field that holds one."""
    for key, value in body.items():
        try:
            key.encode("utf-8")
        except UnicodeEncodeError:
            raise invalid("body", "a field name holds a lone surrogate (\\ud800-\\udfff)") from None
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise invalid(
                key, "holds a lone surrogate (\\ud800-\\udfff), which is not valid Unicode"
            ) from None
