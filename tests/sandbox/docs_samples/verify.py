# ruff: noqa
# mypy: ignore-errors
# The docs' code is kept as written (quotes, layout, no annotations): no linter, no formatter.
"""APIMW's Python signature check, from docs.apimw.com/webhook-security, run against a captured
delivery. The harness plays the Flask route: the raw body arrives on stdin and is handed over as
text (request.get_data(as_text=True): the sample calls payload.encode()), the header in
X_APIMW_SIGNATURE, the secret in WEBHOOK_SECRET. Prints "OK" or "Invalid signature"."""

import os
import sys

# fmt: off
# --- from the docs, verbatim --------------------------------------------------------------------
import hmac
import hashlib


def verify_signature(payload, signature, secret):
    expected = 'sha256=' + hmac.new(
        secret.encode(),
        payload.encode(),
        hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, signature)
# --- end of the docs' code ----------------------------------------------------------------------
# fmt: on


if __name__ == "__main__":
    payload = sys.stdin.buffer.read().decode("utf-8")  # as Flask decodes a JSON body
    signature = os.environ.get("X_APIMW_SIGNATURE", "")
    secret = os.environ["WEBHOOK_SECRET"]
    ok = verify_signature(payload, signature, secret)
    sys.stdout.write("OK" if ok else "Invalid signature")
