"""X-APIMW-Signature: sign a delivery body and check a received signature.

APIMW signs the raw request body bytes with HMAC-SHA256 keyed by the webhook secret (UTF-8) and
sends `sha256=<lowercase hex>` (docs/apimw-api.md, "Deliveries"). Pure functions, no I/O, so
the receiver, the sandbox and `apimw verify` all share one definition.

When a signature does not match, `verify` tries the usual ways a correct signature gets broken
(a re-encoded JSON body, a secret read with its newline, ...) and says which one fits: a bare
"mismatch" is the hardest webhook bug to debug. No text produced here ever contains a secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator, Sequence
from secrets import token_urlsafe

from apimw_cli.models import Verdict, VerdictCode
from apimw_cli.protocol import SIGNATURE_HEADER

PREFIX = "sha256="

_HEX_LEN = 64  # hex digits in a SHA-256 digest
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
SECRET_PREFIX = "whsec_"  # how the secrets we generate begin (and the usual form elsewhere)
# Re-serialising a big body many times would make a failed check slow; other tries are linear.
_JSON_DIAGNOSIS_LIMIT = 1024 * 1024


def _hexdigest(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def sign(body: bytes, secret: str) -> str:
    """Return the X-APIMW-Signature value for `body`, e.g. ``sha256=b345...``."""
    if not secret:
        # An empty key still yields an HMAC, which would look like a real signature.
        raise ValueError("the webhook secret must not be empty")
    return PREFIX + _hexdigest(body, secret)


def new_secret() -> str:
    """A fresh webhook signing secret: `whsec_` and 256 random bits."""
    return SECRET_PREFIX + token_urlsafe(32)


def _matches(body: bytes, secret: str, hex_sig: str) -> bool:
    """Constant-time check of a lowercase 64-digit hex signature, so timing leaks nothing."""
    return hmac.compare_digest(_hexdigest(body, secret), hex_sig)


def _is_hex_digest(value: str) -> bool:
    return len(value) == _HEX_LEN and all(c in _HEX_DIGITS for c in value)


def _of(index: int, total: int) -> str:
    return f" (secret #{index + 1} of {total})" if total > 1 else ""


def verify(body: bytes, header: str | None, secrets: str | Sequence[str]) -> Verdict:
    """Check an X-APIMW-Signature header value against `body` and one or more secrets.

    Several secrets support rotation: the first that matches wins and its index is reported
    in `matched_secret`. Empty secrets are ignored but keep their position in the numbering.
    """
    given = [secrets] if isinstance(secrets, str) else list(secrets)
    usable = [(i, s) for i, s in enumerate(given) if s]
    total = len(given)
    if not usable:
        return Verdict(
            VerdictCode.NO_SECRET,
            "No webhook secret was given, so the signature cannot be checked.",
        )

    if header is None:
        return Verdict(VerdictCode.MISSING, f"The {SIGNATURE_HEADER} header is missing.")
    value = header.strip()
    if not value:
        return Verdict(VerdictCode.MISSING, f"The {SIGNATURE_HEADER} header is empty.")

    if not value.startswith(PREFIX):
        return _malformed_prefix(body, value, usable, total)

    hex_sig = value[len(PREFIX) :]
    if not hex_sig:
        return Verdict(
            VerdictCode.MALFORMED,
            f"The header has the '{PREFIX}' prefix but no signature after it.",
        )
    if not all(c in _HEX_DIGITS for c in hex_sig):
        return Verdict(VerdictCode.MALFORMED, f"The part after '{PREFIX}' is not hexadecimal.")
    if len(hex_sig) != _HEX_LEN:
        return Verdict(
            VerdictCode.MALFORMED,
            f"The signature has {len(hex_sig)} hex digits; HMAC-SHA256 needs {_HEX_LEN}.",
        )

    hex_sig = hex_sig.lower()  # APIMW sends lowercase, but uppercase digits mean the same bytes
    for index, secret in usable:
        if _matches(body, secret, hex_sig):
            which = f"secret #{index + 1} of {total}" if total > 1 else "the webhook secret"
            return Verdict(
                VerdictCode.VALID, f"The signature matches {which}.", matched_secret=index
            )

    against = f"any of the {total} secrets" if total > 1 else "the webhook secret"
    return Verdict(
        VerdictCode.MISMATCH,
        f"The signature does not match the body with {against}.",
        diagnosis=_diagnose_mismatch(body, hex_sig, usable, total),
    )


def _malformed_prefix(
    body: bytes, value: str, usable: Sequence[tuple[int, str]], total: int
) -> Verdict:
    """Explain a value without the exact `sha256=` prefix, noting when the HMAC itself is fine."""
    label, sep, rest = value.partition("=")
    bare = False
    if sep and label.lower() == PREFIX[:-1]:
        reason = f"The header prefix must be exactly '{PREFIX}' (lowercase)."
        candidate = rest
    elif _is_hex_digest(value):
        reason = f"The header value lacks the '{PREFIX}' prefix."
        candidate, bare = value, True
    elif sep and label.isalnum():
        # Not echoing the label: a header can carry anything and we never print secrets.
        reason = f"The header names another algorithm; APIMW signs with '{PREFIX}' (HMAC-SHA256)."
        candidate = ""
    else:
        reason = f"The header value does not start with '{PREFIX}'."
        candidate = ""

    diagnosis = None
    if _is_hex_digest(candidate):
        for index, secret in usable:
            if _matches(body, secret, candidate.lower()):
                diagnosis = (
                    f"The value is a valid HMAC but lacks the '{PREFIX}' prefix{_of(index, total)};"
                    f" send it as '{PREFIX}<hex>'."
                    if bare
                    else f"The value is a valid HMAC but its prefix is not spelled exactly"
                    f" '{PREFIX}'{_of(index, total)}; use the lowercase prefix."
                )
                break
    return Verdict(VerdictCode.MALFORMED, reason, diagnosis=diagnosis)


def _json_variants(body: bytes) -> Iterator[bytes]:
    """The body as common JSON encoders would re-serialise it."""
    if len(body) > _JSON_DIAGNOSIS_LIMIT:
        return
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):  # not JSON (or absurdly deep): nothing to try
        return
    # The trimmed body is the trailing-newline case, which has its own, more precise diagnosis.
    seen = {body, body.rstrip()}
    layouts: list[tuple[tuple[str, str] | None, int | None]] = [
        (None, None),
        ((",", ":"), None),
        (None, 2),
    ]
    for separators, indent in layouts:
        for sort_keys in (False, True):
            for ensure_ascii in (True, False):
                try:
                    text = json.dumps(
                        parsed,
                        separators=separators,
                        indent=indent,
                        sort_keys=sort_keys,
                        ensure_ascii=ensure_ascii,
                    )
                    candidate = text.encode("utf-8")
                except (ValueError, TypeError, RecursionError):
                    continue
                if candidate not in seen:
                    seen.add(candidate)
                    yield candidate


def _reencoded(body: bytes) -> Iterator[bytes]:
    """The body undoing a latin-1 <-> UTF-8 conversion in either direction."""
    for src, dst in (("utf-8", "latin-1"), ("latin-1", "utf-8")):
        try:
            candidate = body.decode(src).encode(dst)
        except UnicodeError:
            continue
        if candidate != body:
            yield candidate


def _diagnose_mismatch(
    body: bytes, hex_sig: str, usable: Sequence[tuple[int, str]], total: int
) -> str | None:
    """Return the first likely cause of a mismatch as one sentence, or None if none fits."""

    def body_match(candidates: Iterable[bytes]) -> str | None:
        for candidate in candidates:
            for index, secret in usable:
                if _matches(candidate, secret, hex_sig):
                    return _of(index, total)
        return None

    def secret_match(alter: dict[str, str]) -> tuple[str, str] | None:
        # `alter` maps a secret to its altered form; returns (original, suffix) on a match.
        for index, secret in usable:
            altered = alter.get(secret)
            if altered and _matches(body, altered, hex_sig):
                return secret, _of(index, total)
        return None

    found = body_match(_json_variants(body))
    if found is not None:
        return (
            f"The signature matches the body re-serialised as JSON{found}, so something parsed"
            " and re-encoded it; verify the raw request bytes before any JSON parsing."
        )

    stripped = {s: s.strip() for _, s in usable if s.strip() != s}
    hit = secret_match(stripped)
    if hit is not None:
        return (
            f"The signature matches the secret without its surrounding whitespace{hit[1]};"
            " strip the secret (e.g. the newline read from a file) before using it."
        )

    trimmed = body.rstrip()
    if trimmed != body and (found := body_match([trimmed])) is not None:
        return (
            f"The signature matches the body without its trailing whitespace{found}, so a"
            " newline was appended to the body; verify the bytes exactly as received."
        )
    if (found := body_match([body + b"\n"])) is not None:
        return (
            f"The signature matches the body with a trailing newline{found}, so the body was"
            " trimmed; verify the bytes exactly as received, without stripping them."
        )

    unprefixed = {s: s[len(SECRET_PREFIX) :] for _, s in usable if s.startswith(SECRET_PREFIX)}
    hit = secret_match(unprefixed)
    if hit is not None:
        return (
            f"The signature matches the secret without its '{SECRET_PREFIX}' prefix{hit[1]};"
            " the webhook was registered without it, so use the secret exactly as registered."
        )
    prefixed = {s: SECRET_PREFIX + s for _, s in usable if not s.startswith(SECRET_PREFIX)}
    hit = secret_match(prefixed)
    if hit is not None:
        return (
            f"The signature matches the secret with a '{SECRET_PREFIX}' prefix{hit[1]};"
            " the prefix is part of the key, so configure the full secret including it."
        )

    found = body_match(_reencoded(body))
    if found is not None:
        return (
            f"The signature matches the body before a latin-1/UTF-8 conversion{found}, so an"
            " encoding conversion changed the bytes; verify the raw bytes without decoding them."
        )
    return None
