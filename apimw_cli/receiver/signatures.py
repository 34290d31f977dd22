"""Checking a delivery's signature per request: `signing.verify`, with a fast path for the usual
case, a correct signature (docs/apimw-api.md, "Deliveries and signatures")."""

from __future__ import annotations

import hashlib
import hmac

from apimw_cli.models import Verdict, VerdictCode
from apimw_cli.signing import PREFIX, sign, verify

__all__ = ["SKIPPED", "Signatures"]

SKIPPED = Verdict(VerdictCode.SKIPPED, "Signature verification is off (--skip-verify).")

_BLOCK = 64  # SHA-256's block size
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))
_PREFIX_LEN = len(PREFIX)
_SIGNED_LEN = _PREFIX_LEN + 64


class _Hmac:
    """HMAC-SHA256 keyed once: the inner and outer SHA-256 states after the padded key, copied
    for each check (RFC 2104), instead of setting the key up again as `hmac.digest` does, or
    going through `hmac.HMAC.copy`'s Python layer. Only used to recognise a correct signature
    quickly; `verify` decides all other cases."""

    def __init__(self, key: bytes) -> None:
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(_BLOCK, b"\0")
        self._inner = hashlib.sha256(key.translate(_IPAD))
        self._outer = hashlib.sha256(key.translate(_OPAD))

    def hexdigest(self, body: bytes) -> str:
        inner = self._inner.copy()
        inner.update(body)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


class Signatures:
    """signing.verify, with a fast path for a correct signature.

    The verdicts the fast path returns are the ones `verify` itself produced at start-up for a
    body signed with each secret, so both paths answer alike; anything but an exact match goes
    to `verify`, which explains what is wrong.
    """

    def __init__(self, secrets: tuple[str, ...]) -> None:
        self.secrets = secrets
        self.valid: list[tuple[_Hmac, Verdict]] = []
        for secret in secrets:
            if secret:
                verdict = verify(b"", sign(b"", secret), secrets)
                key = _Hmac(secret.encode("utf-8"))
                probe = b'{"type":"message.sent"}'
                if PREFIX + key.hexdigest(probe) != sign(probe, secret):  # pragma: no cover
                    raise AssertionError("the fast HMAC disagrees with signing.sign")
                self.valid.append((key, verdict))

    def check(self, body: bytes, header: str | None) -> Verdict:
        if header is not None and len(header) == _SIGNED_LEN and header.isascii():
            prefix, given = header[:_PREFIX_LEN], header[_PREFIX_LEN:].lower()
            if prefix == PREFIX:
                for key, verdict in self.valid:
                    if hmac.compare_digest(key.hexdigest(body), given):
                        return verdict
        return verify(body, header, self.secrets)
