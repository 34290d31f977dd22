"""Masking of secrets for every human-facing output."""

from __future__ import annotations

import re

# Known prefixes stay visible: they tell which kind of secret it is.
_PREFIX = re.compile(r"^((?:whsec|sk|ak|rt|tok)_(?:live_|test_)?)")


def mask(secret: str | None) -> str:
    """`whsec_...ab12`: the kind and the last four characters, never more than a quarter."""
    if not secret:
        return ""
    match = _PREFIX.match(secret)
    prefix = match.group(1) if match else ""
    rest = secret[len(prefix) :]
    if len(rest) < 16:
        return f"{prefix}****"
    return f"{prefix}...{rest[-4:]}"
