"""Access tokens for the sandbox: real HS256 JWTs, so expiry and tampering behave as in life."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

USER_ID = "usr_sandbox"
TENANT_ID = "ten_sandbox"
REFRESH_TTL = 30 * 24 * 3600.0


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Claims:
    jti: str
    exp: float
    sub: str
    ten: str


class TokenError(Exception):
    """Why a bearer token was refused: `code` is the APIMW error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def issue(key: bytes, *, now: float, ttl: float) -> tuple[str, Claims]:
    claims = Claims(jti=secrets.token_hex(12), exp=round(now + ttl, 3), sub=USER_ID, ten=TENANT_ID)
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload: dict[str, Any] = {
        "iss": "apimw-sandbox",
        "sub": claims.sub,
        "ten": claims.ten,
        "iat": int(now),
        "exp": claims.exp,
        "jti": claims.jti,
    }
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    signature = hmac.new(key, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(signature)}", claims


def check(key: bytes, token: str, *, now: float) -> Claims:
    """The token's claims, or TokenError INVALID_TOKEN / EXPIRED_TOKEN (revocation is the
    caller's check: it needs the store)."""
    claims = verify(key, token)
    if claims.exp <= now:
        raise TokenError("EXPIRED_TOKEN", "the access token has expired")
    return claims


def verify(key: bytes, token: str) -> Claims:
    """The claims of a token we signed, expired or not; TokenError INVALID_TOKEN otherwise."""
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError("INVALID_TOKEN", "the access token is not a JWT")
    header, body, signature = parts
    try:
        signed = f"{header}.{body}".encode()
    except UnicodeEncodeError:  # a lone surrogate: no token of ours
        raise TokenError("INVALID_TOKEN", "the access token is malformed") from None
    expected = _b64(hmac.new(key, signed, hashlib.sha256).digest()).encode()
    # The signature as text, exactly: decoding first would also take `...=` and the other
    # spellings of the last character's unused bits, so one token would have several forms.
    if not hmac.compare_digest(expected, signature.encode("utf-8", "surrogatepass")):
        raise TokenError("INVALID_TOKEN", "the access token's signature is invalid")
    try:
        payload = json.loads(_unb64(body))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise TokenError("INVALID_TOKEN", "the access token is malformed") from None
    if not isinstance(payload, dict):
        raise TokenError("INVALID_TOKEN", "the access token is malformed")
    try:
        return Claims(
            jti=str(payload["jti"]),
            exp=float(payload["exp"]),
            sub=str(payload["sub"]),
            ten=str(payload["ten"]),
        )
    except (KeyError, TypeError, ValueError):
        raise TokenError("INVALID_TOKEN", "the access token lacks claims") from None


def new_refresh_token() -> str:
    return "rt_" + secrets.token_urlsafe(32)
