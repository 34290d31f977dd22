"""Compare a JSON answer with a documented example by shape: the same keys, the same JSON types,
and the formats the example's values show (timestamps, id prefixes, JWTs, E.164 numbers), never
the values themselves.

    problems = shape_problems(answer, docs_examples.AUTH_TOKEN)
    assert not problems, problems

Keys the sandbox adds where the docs are silent must be named in `extra` (dotted paths, `[]` for
"every item of a list"), so each one is a decision written down in a test.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

import httpx

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", re.ASCII)
E164 = re.compile(r"\+[1-9][0-9]{6,14}")
JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
ID_PREFIX = re.compile(r"([a-z]+_)[A-Za-z0-9]+")

# Keys whose value has a format the example shows by its first characters.
PREFIXED_KEYS = frozenset({"id", "refresh_token"})
PHONE_KEYS = frozenset({"to", "from"})


def json_type(value: Any) -> str:
    """The JSON type's name (a bool is not a number; an int is not a float)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def shape_problems(
    actual: Any, example: Any, *, extra: Collection[str] = (), path: str = ""
) -> list[str]:
    """What differs in shape between `actual` and the docs' `example` (empty: the same)."""
    where = path or "(top)"
    if example is None:
        # The docs' only null is a timestamp not reached yet (message status `read`).
        if actual is None or (isinstance(actual, str) and TIMESTAMP.fullmatch(actual)):
            return []
        return [f"{where}: {actual!r} is neither null nor a timestamp"]
    if actual is None and path.rsplit(".", 2)[-2:-1] == ["timestamps"]:
        return []  # a status not reached yet: the docs show `"read": null` in the same object
    if json_type(actual) != json_type(example):
        return [f"{where}: {json_type(actual)} {actual!r}, the docs have {json_type(example)}"]
    if isinstance(example, Mapping):
        return _object_problems(actual, example, extra, path)
    if isinstance(example, list):
        if not example:
            return []
        problems: list[str] = []
        for item in actual:
            model = _same_kind(item, example)
            if model is None:
                problems.append(f"{path}[]: type {item['type']!r} is not in the docs' example")
            else:
                problems += shape_problems(item, model, extra=extra, path=f"{path}[]")
        return problems
    if isinstance(example, str):
        return _format_problems(actual, example, path)
    return []


def assert_shape(response: httpx.Response, example: dict[str, Any], **options: Any) -> Any:
    """The answer's body, once its shape is the example's."""
    body = response.json()
    problems = shape_problems(body, example, **options)
    assert not problems, "\n".join([f"{response.request.url}:", *problems, f"answer: {body}"])
    return body


def _same_kind(item: Any, examples: list[Any]) -> Any:
    """The example item to compare `item` with: in a list of typed objects (template
    components: HEADER, BODY, FOOTER) the one of the same `type`, else the first."""
    typed = [e for e in examples if isinstance(e, Mapping) and "type" in e]
    if not typed or not isinstance(item, Mapping) or "type" not in item:
        return examples[0]
    return next((e for e in typed if e["type"] == item["type"]), None)


def _object_problems(
    actual: Mapping[str, Any], example: Mapping[str, Any], extra: Collection[str], path: str
) -> list[str]:
    problems: list[str] = []
    for key in example:
        if key not in actual:
            problems.append(f"{_join(path, key)}: missing (the docs have it)")
    for key in actual:
        if key not in example and _join(path, key) not in extra:
            problems.append(f"{_join(path, key)}: not in the docs' example (nor in `extra`)")
    for key, value in example.items():
        if key in actual:
            problems += shape_problems(actual[key], value, extra=extra, path=_join(path, key))
    return problems


def _format_problems(actual: str, example: str, path: str) -> list[str]:
    key = path.rsplit(".", 1)[-1]
    if TIMESTAMP.fullmatch(example) and not TIMESTAMP.fullmatch(actual):
        return [f"{path}: {actual!r} is not a timestamp like {example!r}"]
    if example.startswith("eyJ") and not JWT.fullmatch(actual):
        return [f"{path}: {actual!r} is not a JWT"]
    if example.startswith("wamid.") and not (actual.startswith("wamid.") and len(actual) > 6):
        return [f"{path}: {actual!r} is not a wamid. id"]
    if key in PHONE_KEYS and E164.fullmatch(example) and not E164.fullmatch(actual):
        return [f"{path}: {actual!r} is not an E.164 number"]
    prefix = ID_PREFIX.fullmatch(example)
    if key in PREFIXED_KEYS and prefix and not actual.startswith(prefix.group(1)):
        return [f"{path}: {actual!r} does not start with {prefix.group(1)!r}"]
    if key == "url" and not re.match(r"https?://", actual):
        return [f"{path}: {actual!r} is not a URL"]
    if key == "email" and "@" not in actual:
        return [f"{path}: {actual!r} is not an email address"]
    return []


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
