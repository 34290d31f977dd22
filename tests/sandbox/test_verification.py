"""The webhook.verification challenge sent right after create and after a url change."""

from __future__ import annotations

import hashlib
import hmac

import httpx
import pytest

from apimw_cli.signing import verify
from tests.sandbox.support import (
    VERIFICATION,
    RunningSandboxLike,
    create_webhook,
    data_of,
    get_webhook,
    wait_verified,
)
from tests.support.capture import Captured, Reply
from tests.support.endpoint import Behaviour
from tests.support.sandbox import MakeEndpoint
from tests.support.waiting import wait_for

SECRET = "whsec_verification_secret"


@pytest.fixture
def running_sandbox(module_sandbox: RunningSandboxLike) -> RunningSandboxLike:
    """Each test looks only at its own webhooks: one sandbox serves the module."""
    return module_sandbox


def _challenge(request: Captured) -> str:
    body = request.json()
    assert body["type"] == VERIFICATION
    challenge = body["challenge"]
    assert isinstance(challenge, str) and challenge
    return challenge


def test_challenge_request_has_type_and_challenge(
    sandbox_api: httpx.Client, make_endpoint: MakeEndpoint
) -> None:
    hook = make_endpoint()
    create_webhook(sandbox_api, hook.url)
    (request,) = hook.wait_verifications()
    assert request.method == "POST"
    assert request.path == "/hook"
    assert set(request.json()) == {"type", "challenge"}
    assert (request.header("Content-Type") or "").startswith("application/json")
    _challenge(request)


def test_challenges_are_random(sandbox_api: httpx.Client, make_endpoint: MakeEndpoint) -> None:
    hook = make_endpoint()
    create_webhook(sandbox_api, hook.url)
    create_webhook(sandbox_api, hook.url)
    first, second = hook.wait_verifications(2)
    assert _challenge(first) != _challenge(second)


def test_challenge_answered_as_text_verifies(
    sandbox_api: httpx.Client, make_endpoint: MakeEndpoint
) -> None:
    created = create_webhook(sandbox_api, make_endpoint(Behaviour(challenge="text")).url)
    webhook = wait_verified(sandbox_api, created["id"])
    assert webhook["verified"] is True
    assert webhook["verification_error"] is None


def test_challenge_answered_as_json_verifies(
    sandbox_api: httpx.Client, make_endpoint: MakeEndpoint
) -> None:
    created = create_webhook(sandbox_api, make_endpoint(Behaviour(challenge="json")).url)
    assert wait_verified(sandbox_api, created["id"])["verified"] is True


def test_wrong_answer_does_not_verify(
    sandbox_api: httpx.Client, make_endpoint: MakeEndpoint
) -> None:
    created = create_webhook(sandbox_api, make_endpoint(Behaviour(challenge="wrong")).url)
    webhook = wait_verified(sandbox_api, created["id"])
    assert webhook["verified"] is False
    assert isinstance(webhook["verification_error"], str) and webhook["verification_error"]


def test_right_challenge_with_non_200_does_not_verify(
    sandbox_api: httpx.Client, make_endpoint: MakeEndpoint
) -> None:
    def answer_500(request: Captured) -> Reply:
        return Reply(500, _challenge(request).encode())

    created = create_webhook(sandbox_api, make_endpoint(Behaviour(handler=answer_500)).url)
    assert wait_verified(sandbox_api, created["id"])["verified"] is False


def test_unreachable_url_does_not_verify(
    sandbox_api: httpx.Client, make_endpoint: MakeEndpoint
) -> None:
    hook = make_endpoint()
    url = hook.url
    hook.close()
    created = create_webhook(sandbox_api, url)
    webhook = wait_verified(sandbox_api, created["id"])
    assert webhook["verified"] is False
    assert webhook["verification_error"]


def test_verified_is_null_while_challenge_pending(
    sandbox_api: httpx.Client, make_endpoint: MakeEndpoint
) -> None:
    hook = make_endpoint(Behaviour(handler=lambda r: Reply(200, _challenge(r).encode(), delay=1.5)))
    created = create_webhook(sandbox_api, hook.url)
    hook.wait_verifications()
    assert created["verified"] is None
    assert get_webhook(sandbox_api, created["id"])["verified"] is None
    assert wait_verified(sandbox_api, created["id"])["verified"] is True


def test_challenge_is_signed_when_secret_set(
    sandbox_api: httpx.Client, make_endpoint: MakeEndpoint
) -> None:
    hook = make_endpoint()
    create_webhook(sandbox_api, hook.url, secret=SECRET)
    (request,) = hook.wait_verifications()
    header = request.header("X-APIMW-Signature")
    assert verify(request.body, header, SECRET).valid
    expected = hmac.new(SECRET.encode("utf-8"), request.body, hashlib.sha256).hexdigest()
    assert header == f"sha256={expected}"


def test_challenge_is_unsigned_without_secret(
    sandbox_api: httpx.Client, make_endpoint: MakeEndpoint
) -> None:
    hook = make_endpoint()
    create_webhook(sandbox_api, hook.url)
    (request,) = hook.wait_verifications()
    assert request.header("X-APIMW-Signature") is None


def test_patching_url_sends_new_challenge_to_new_url(
    sandbox_api: httpx.Client, make_endpoint: MakeEndpoint
) -> None:
    old = make_endpoint(Behaviour(challenge="wrong"))
    new = make_endpoint(path="/new")
    created = create_webhook(sandbox_api, old.url)
    assert wait_verified(sandbox_api, created["id"])["verified"] is False
    patched = data_of(sandbox_api.patch(f"webhooks/{created['id']}", json={"url": new.url}))
    assert patched["verified"] is not False  # pending (null) or already re-verified
    new.wait_verifications()
    wait_for(
        lambda: get_webhook(sandbox_api, created["id"])["verified"] is True, what="re-verified"
    )
    assert len(old.verifications()) == 1
