"""The challenge rule (apimw_cli/protocol.py echoes_challenge, docs/apimw-api.md "Webhooks") as
the sandbox applies it: a 200 whose body is the challenge as text (whitespace around it ignored)
or a JSON object {"challenge": value} verifies; the value as a JSON string, in quotes, does not.
`webhooks test` judges endpoints by the same rule."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from tests.sandbox.support import VERIFICATION, RunningSandboxLike, create_webhook, wait_verified
from tests.support.capture import Captured, Reply
from tests.support.endpoint import Behaviour
from tests.support.sandbox import MakeEndpoint


@pytest.fixture
def running_sandbox(module_sandbox: RunningSandboxLike) -> RunningSandboxLike:
    """Each test looks only at its own webhook: one sandbox serves the module."""
    return module_sandbox


def answering(body_of: Callable[[str], bytes], content_type: str = "text/plain") -> Behaviour:
    """An endpoint that answers the challenge with 200 and `body_of(challenge)`."""

    def handler(request: Captured) -> Reply | None:
        if not request.is_verification:
            return None
        payload = request.json()
        assert payload["type"] == VERIFICATION
        return Reply(200, body_of(str(payload["challenge"])), content_type)

    return Behaviour(handler=handler)


@pytest.mark.parametrize(
    ("body_of", "content_type"),
    [
        (lambda challenge: challenge.encode(), "text/plain"),
        (lambda challenge: f"  {challenge}\r\n".encode(), "text/plain"),
        (lambda challenge: json.dumps({"challenge": challenge}).encode(), "application/json"),
        (lambda challenge: f'\n{{ "challenge" : "{challenge}" }}\n'.encode(), "application/json"),
    ],
    ids=["text", "text-with-whitespace", "json-object", "json-object-with-whitespace"],
)
def test_text_and_json_object_answers_verify(
    sandbox_api: httpx.Client,
    make_endpoint: MakeEndpoint,
    body_of: Callable[[str], bytes],
    content_type: str,
) -> None:
    created = create_webhook(sandbox_api, make_endpoint(answering(body_of, content_type)).url)
    webhook = wait_verified(sandbox_api, created["id"])
    assert webhook["verified"] is True
    assert webhook["verification_error"] is None


def test_challenge_as_a_json_string_does_not_verify(
    sandbox_api: httpx.Client, make_endpoint: MakeEndpoint
) -> None:
    quoted = answering(lambda challenge: json.dumps(challenge).encode(), "application/json")
    created = create_webhook(sandbox_api, make_endpoint(quoted).url)
    webhook = wait_verified(sandbox_api, created["id"])
    assert webhook["verified"] is False
    assert webhook["verification_error"] == "the endpoint answered 200 without the challenge value"
