"""Template messages: the request's `components` checked for shape (the docs' header, body and
button components) and against the template they fill, and the body rendered with them.

Every refusal is a ValueError whose text follows "components: " in a 400 VALIDATION_ERROR.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

PLACEHOLDER = re.compile(r"\{\{\s*(\d+)\s*\}\}")
MEDIA = ("image", "document", "video")
PARAMETER_TYPES = ("text", "currency", "date_time", *MEDIA, "payload")
COMPONENT_TYPES = ("header", "body", "button")
MAX_BUTTON_INDEX = 9


def placeholders(text: str) -> int:
    """How many parameters a text takes: its highest `{{n}}`."""
    return max((int(n) for n in PLACEHOLDER.findall(text)), default=0)


def _check_parameter(where: str, parameter: Any) -> dict[str, Any]:
    if not isinstance(parameter, dict):
        raise ValueError(f"{where} must be an object")
    kind = parameter.get("type")
    if kind not in PARAMETER_TYPES:
        raise ValueError(f"{where}.type must be one of {', '.join(PARAMETER_TYPES)}")
    value = parameter.get(kind)
    if kind in ("text", "payload"):
        if not isinstance(value, str) or not value:
            raise ValueError(f"{where}: a {kind} parameter needs a non-empty string {kind!r}")
    elif kind == "currency":
        if not (
            isinstance(value, dict)
            and isinstance(value.get("code"), str)
            and re.fullmatch(r"[A-Z]{3}", value["code"])
            and isinstance(value.get("amount_1000"), int)
            and not isinstance(value.get("amount_1000"), bool)
        ):
            raise ValueError(
                f"{where}: a currency parameter needs "
                '{"code": "USD", "amount_1000": 99990} (an ISO 4217 code, an integer)'
            )
    elif kind == "date_time":
        if not isinstance(value, dict) or not isinstance(value.get("fallback_value"), str):
            raise ValueError(f'{where}: a date_time parameter needs {{"fallback_value": "..."}}')
    elif not isinstance(value, dict) or not isinstance(value.get("link"), str):
        raise ValueError(f'{where}: an {kind} parameter needs {{"link": "https://..."}}')
    return parameter


def _check_component(where: str, component: Any) -> dict[str, Any]:
    if not isinstance(component, dict):
        raise ValueError(f"{where} must be an object")
    kind = component.get("type")
    if not isinstance(kind, str) or kind.lower() not in COMPONENT_TYPES:
        raise ValueError(f"{where}.type must be one of {', '.join(COMPONENT_TYPES)}")
    parameters = component.get("parameters", [])
    if not isinstance(parameters, list):
        raise ValueError(f"{where}.parameters must be a list")
    checked = [_check_parameter(f"{where}.parameters[{i}]", p) for i, p in enumerate(parameters)]
    if kind.lower() == "button":
        if not isinstance(component.get("sub_type"), str) or not component["sub_type"]:
            raise ValueError(f'{where}: a button needs a "sub_type" ("url", "quick_reply")')
        index = component.get("index")
        if not isinstance(index, int) or isinstance(index, bool):
            raise ValueError(f'{where}: a button needs an integer "index"')
        if not 0 <= index <= MAX_BUTTON_INDEX:
            raise ValueError(f"{where}.index must be from 0 to {MAX_BUTTON_INDEX}")
    return {**component, "type": kind.lower(), "parameters": checked}


def check_components(components: Any) -> list[dict[str, Any]]:
    """The request's components, shape-checked, types lowercased; at most one header and body."""
    if components is None:
        return []
    if not isinstance(components, list):
        raise ValueError("must be a list of components")
    checked = [_check_component(f"[{i}]", c) for i, c in enumerate(components)]
    for kind in ("header", "body"):
        if sum(c["type"] == kind for c in checked) > 1:
            raise ValueError(f"more than one {kind} component")
    return checked


def _part(template: Mapping[str, Any], kind: str) -> dict[str, Any] | None:
    for component in template.get("components", []):
        if str(component.get("type", "")).upper() == kind:
            return dict(component)
    return None


def _given(components: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    for component in components:
        if component["type"] == kind:
            parameters: list[dict[str, Any]] = component["parameters"]
            return parameters
    return []


def _count(taken: int, given: int, what: str, label: str) -> None:
    if taken != given:
        takes = f"{taken} {what} parameter{'s' if taken != 1 else ''}"
        if taken:
            takes += f" ({{{{1}}}} to {{{{{taken}}}}})" if taken > 1 else " ({{1}})"
        raise ValueError(f"template {label} takes {takes}; {given} given")


def check_against(template: Mapping[str, Any], components: list[dict[str, Any]]) -> None:
    """The components fill the template exactly: as many header and body parameters as it has
    placeholders (one media parameter for an image, document or video header), and buttons
    only where it has buttons."""
    label = f"{template['name']!r} ({template['language']})"
    header = _part(template, "HEADER")
    header_given = _given(components, "header")
    if header is None:
        if any(c["type"] == "header" for c in components):
            raise ValueError(f"template {label} has no header")
    elif str(header.get("format", "TEXT")).upper() == "TEXT":
        _count(placeholders(str(header.get("text", ""))), len(header_given), "header", label)
    else:
        media = str(header["format"]).lower()
        if [p["type"] for p in header_given] != [media]:
            raise ValueError(f"template {label} needs one {media} parameter in its header")
    body = _part(template, "BODY")
    taken = placeholders(str(body.get("text", ""))) if body else 0
    _count(taken, len(_given(components, "body")), "body", label)
    if _part(template, "BUTTONS") is None and any(c["type"] == "button" for c in components):
        raise ValueError(f"template {label} has no buttons")


def _shown(parameter: Mapping[str, Any]) -> str:
    kind = parameter["type"]
    value = parameter[kind]
    if kind in ("text", "payload"):
        return str(value)
    if kind == "currency":
        return str(
            value.get("fallback_value") or f"{value['code']} {value['amount_1000'] / 1000:.2f}"
        )
    if kind == "date_time":
        return str(value["fallback_value"])
    return f"[{kind}]"


def render(template: Mapping[str, Any], components: list[dict[str, Any]]) -> str:
    """The body as the customer reads it, placeholders filled."""
    body = _part(template, "BODY")
    values = [_shown(p) for p in _given(components, "body")]

    def fill(match: re.Match[str]) -> str:
        index = int(match.group(1)) - 1
        return values[index] if 0 <= index < len(values) else match.group(0)

    return PLACEHOLDER.sub(fill, str(body.get("text", ""))) if body else ""
