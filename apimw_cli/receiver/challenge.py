"""The receiver's answer to APIMW's verification challenge.

docs/apimw-api.md ("Webhooks"): right after a webhook is registered APIMW POSTs
`{"type": "webhook.verification", "challenge": "<value>"}`, and our contract is that the
receiver answers 200 with the value as text/plain (what `protocol.echoes_challenge` accepts).
The challenge is answered whatever its signature says: a signature present is checked and
reported, so a wrong secret shows up at once, but ownership is proven by the echo alone.
"""

from __future__ import annotations

import json
from typing import Any

from apimw_cli.models import Verdict, VerdictCode
from apimw_cli.receiver.signatures import SKIPPED, Signatures

__all__ = ["challenge_answer"]


def challenge_answer(
    parsed: dict[str, Any],
    body: bytes,
    signature: str | None,
    signatures: Signatures,
    skip_verify: bool,
) -> tuple[str, Verdict | None, str | None]:
    """The text to answer with, the signature's verdict (None: unsigned), and a note for the
    report when something is off."""
    verdict: Verdict | None = None
    note: str | None = None
    if skip_verify:
        verdict = SKIPPED
    elif signature is not None:
        verdict = signatures.check(body, signature)
        if verdict.code is not VerdictCode.VALID:
            note = "challenge answered although its signature did not verify"
    challenge = parsed.get("challenge")
    if challenge is None:
        return "", verdict, "the verification request carries no challenge value"
    if isinstance(challenge, str):
        return challenge, verdict, note
    try:
        return json.dumps(challenge), verdict, note
    except (ValueError, RecursionError):  # a sender's value, nested past echoing
        return "", verdict, "the challenge value is nested too deep to echo"
