"""Masking of secrets for every human-facing output.

Three layers, all applied by `redact` (the Printer runs every stderr message through it, and
`--debug` tracebacks are stderr messages):

- secrets this process knows (`remember`): the API secret, tokens, webhook secrets, the ngrok
  authtoken, whatever their shape;
- values that look like secrets whatever their origin: `whsec_...`, `sk_...`, `rt_...`,
  `tok_...`, JWTs and `Bearer ...`;
- credentials in URLs: `https://user:pass@host` -> `https://user:***@host` (`mask_url`, which
  the Printer also applies to data on stdout: a URL is never printed with its password).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

# Known prefixes stay visible: they tell which kind of secret it is.
_PREFIX = re.compile(r"^((?:whsec|sk|ak|rt|tok)_(?:live_|test_)?)")

# Shorter values are not remembered: replacing them everywhere would garble ordinary text.
MIN_REMEMBERED = 8

_known: set[str] = set()
_known_lock = threading.Lock()

_LOOKS_SECRET = re.compile(
    r"\b(?:whsec|sk|rt|tok)_[A-Za-z0-9_\-]{8,}"  # our secrets and tokens, by prefix
    r"|\beyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]+"  # a JWT
)
# A bearer token has a digit somewhere (words after "Bearer" in prose have none).
_BEARER = re.compile(r"\b(Bearer\s+)((?=[A-Za-z._~+/=\-]*\d)[A-Za-z0-9._~+/=\-]{12,})", re.I)
# scheme://userinfo@ -- the userinfo runs to the last `@` of the authority, the way URL
# parsers split it; quotes, brackets and white space end a URL in text or JSON.
_URL_USERINFO = re.compile(r"\b([A-Za-z][A-Za-z0-9+.\-]*://)([^/?#\s\"'<>\[\]{}|\\^`]*)@")


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


def remember(*secrets: str | None) -> None:
    """Mask these values (and their stripped forms) in everything `redact` sees from now on."""
    fresh = {s.strip() for s in secrets if s and len(s.strip()) >= MIN_REMEMBERED}
    if fresh:
        with _known_lock:
            _known.update(fresh)


def known_secrets() -> frozenset[str]:
    with _known_lock:
        return frozenset(_known)


def forget_all() -> None:
    """Only for tests: start from an empty memory."""
    with _known_lock:
        _known.clear()


def mask_known(text: str, secrets: Iterable[str] | None = None) -> str:
    """`text` with each of `secrets` (default: every remembered one) replaced by its mask."""
    chosen = known_secrets() if secrets is None else set(secrets)
    for secret in sorted(chosen, key=len, reverse=True):
        if secret and secret in text:
            text = text.replace(secret, mask(secret))
    return text


def _userinfo(match: re.Match[str]) -> str:
    scheme, userinfo = match.group(1), match.group(2)
    user, colon, _ = userinfo.partition(":")
    return f"{scheme}{user}:***@" if colon and user else f"{scheme}***@"


def mask_url(text: str) -> str:
    """`text` with the credentials of every URL in it masked: `https://user:***@host/v1`
    (`https://***@host` when the URL holds a name or token alone)."""
    if "@" not in text:
        return text
    return _URL_USERINFO.sub(_userinfo, text)


def redact(text: str) -> str:
    """`text` with known secrets, secret-looking values and URL credentials masked."""
    text = mask_known(text)
    text = _BEARER.sub(lambda m: m.group(1) + mask(m.group(2)), text)
    text = _LOOKS_SECRET.sub(lambda m: mask(m.group(0)), text)
    return mask_url(text)
