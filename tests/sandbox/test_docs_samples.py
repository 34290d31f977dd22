"""APIMW's own signature-verification samples (PHP, Node.js, Python, from the webhook-security
page, kept verbatim in docs_samples/) accept the sandbox's real deliveries, captured by a capture
server, and refuse forged ones. A sample whose runtime is not installed is skipped, saying so."""

from __future__ import annotations

import hashlib
import hmac
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from apimw_cli.protocol import SIGNATURE_HEADER
from tests.sandbox.support import (
    RunningSandboxLike,
    client,
    create_webhook,
    data_of,
    emit,
    token_pair,
)
from tests.support.capture import Captured
from tests.support.endpoint import Endpoint

SAMPLES = Path(__file__).parent / "docs_samples"
# The docs' example secret, and one beyond ASCII (secrets are keyed as UTF-8).
SECRETS = ("whsec_your_secret_key", "whsec_ünïcödé_🔑")
# A customer's text beyond ASCII: the body's raw bytes are what is signed.
TEXT = "Olá! Café at 10? 👋 — “quoted”"


@dataclass(frozen=True)
class Signed:
    """One request as the endpoint received it: raw body, signature header, and the secret."""

    what: str
    body: bytes
    signature: str
    secret: str


def _command(runtime: str) -> list[str]:
    if runtime == "python":
        return [sys.executable, str(SAMPLES / "verify.py")]
    found = shutil.which(runtime)
    if found is None:
        pytest.skip(f"{runtime} is not installed: the docs' {runtime} sample cannot run here")
    script = {"php": "verify.php", "node": "verify.js"}[runtime]
    return [found, str(SAMPLES / script)]


def run_sample(runtime: str, body: bytes, signature: str, secret: str) -> str:
    """What the docs' sample says of this request: "OK" or "Invalid signature"."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "LANG": "C.UTF-8",
        "WEBHOOK_SECRET": secret,
        "X_APIMW_SIGNATURE": signature,  # Node's and Python's harness
        "HTTP_X_APIMW_SIGNATURE": signature,  # PHP's ($_SERVER's name for the header)
    }
    done = subprocess.run(
        _command(runtime), input=body, env=env, capture_output=True, timeout=60, check=False
    )
    output = done.stdout.decode("utf-8", "replace")
    assert done.returncode == 0, (runtime, done.returncode, output, done.stderr[-2000:])
    return output


def _signed(request: Captured, what: str, secret: str) -> Signed:
    signature = request.header(SIGNATURE_HEADER)
    assert signature is not None, f"{what} arrived unsigned"
    return Signed(what, request.body, signature, secret)


@pytest.fixture(scope="module")
def captured(module_sandbox: RunningSandboxLike) -> Iterator[list[Signed]]:
    """Real requests from the sandbox, for each secret: the challenge, a message.received with
    non-ASCII text, and a message.sent."""
    found: list[Signed] = []
    token = token_pair(module_sandbox.base_url)["access_token"]
    with client(module_sandbox.base_url, token) as api:
        for secret in SECRETS:
            with Endpoint(unique_path=True) as endpoint:
                events = ["message.received", "message.sent"]
                create_webhook(api, endpoint.url, events, secret=secret)
                (challenge,) = endpoint.wait_verifications(1)
                data_of(api.post("sandbox/inbound", json={"from": "+14155550123", "text": TEXT}))
                emit(api, "message.sent")
                received, sent = endpoint.wait_deliveries(2)
            found += [
                _signed(challenge, "webhook.verification", secret),
                _signed(received, "message.received", secret),
                _signed(sent, "message.sent", secret),
            ]
    assert any(TEXT.encode() in item.body for item in found), "no delivery carried the text"
    yield found


RUNTIMES = ("php", "node", "python")


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_the_docs_sample_accepts_every_sandbox_request(
    runtime: str, captured: list[Signed]
) -> None:
    verdicts = {
        (item.what, item.secret): run_sample(runtime, item.body, item.signature, item.secret)
        for item in captured
    }
    assert set(verdicts.values()) == {"OK"}, verdicts


def _flip(text: str) -> str:
    """The same text with its last character changed (same length: the Node sample's
    timingSafeEqual throws on a length mismatch, which is not what is tested here)."""
    return text[:-1] + ("0" if text[-1] != "0" else "1")


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_the_docs_sample_refuses_forgeries(runtime: str, captured: list[Signed]) -> None:
    real = next(item for item in captured if item.what == "message.received")
    tampered_body = real.body.replace(b"Caf", b"Kaf")
    assert tampered_body != real.body
    wrong_secret = "sha256=" + hmac.new(b"whsec_guess", real.body, hashlib.sha256).hexdigest()
    forgeries = {
        "body changed, signature kept": (tampered_body, real.signature, real.secret),
        "signed with another secret": (real.body, wrong_secret, real.secret),
        "signature altered": (real.body, _flip(real.signature), real.secret),
        "right signature, other webhook's secret": (
            real.body,
            real.signature,
            next(s for s in SECRETS if s != real.secret),
        ),
    }
    verdicts = {name: run_sample(runtime, *forgery) for name, forgery in forgeries.items()}
    assert set(verdicts.values()) == {"Invalid signature"}, verdicts


def test_the_python_sample_is_fed_text_as_flask_would() -> None:
    """The harness decodes the body (the sample calls payload.encode()); UTF-8 there and back is
    the same bytes, so the check is on what was sent."""
    body = TEXT.encode()
    signature = "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()
    assert run_sample("python", body, signature, "k") == "OK"
