"""Template sends and the template list answer in the shapes of APIMW's documented examples
(tests/support/docs_examples.py), as test_docs_shapes.py checks the rest."""

from __future__ import annotations

import httpx
import pytest

from tests.sandbox.shapes import assert_shape
from tests.sandbox.support import RunningSandboxLike
from tests.support import docs_examples as docs

# A template message's status also names its template (the docs show only a text's status).
TEMPLATE_STATUS_EXTRAS = frozenset({"data.template"})


@pytest.fixture
def running_sandbox(module_sandbox: RunningSandboxLike) -> RunningSandboxLike:
    return module_sandbox


def test_template_send_is_the_documented_shape(sandbox_api: httpx.Client) -> None:
    response = sandbox_api.post("whatsapp/messages/template", json=docs.TEMPLATE_SEND_REQUEST)
    assert response.status_code == 200, response.text
    sent = assert_shape(response, docs.TEMPLATE_SEND)["data"]
    assert sent["template"] == docs.TEMPLATE_SEND_REQUEST["template"]
    status = sandbox_api.get(f"whatsapp/messages/{sent['message_id']}")
    assert_shape(status, docs.MESSAGE_STATUS, extra=TEMPLATE_STATUS_EXTRAS)


def test_template_list_is_the_documented_shape(sandbox_api: httpx.Client) -> None:
    response = sandbox_api.get("whatsapp/templates", params={"status": "APPROVED"})
    assert response.status_code == 200, response.text
    data = assert_shape(response, docs.TEMPLATES_LIST)["data"]
    assert data["templates"], "the sandbox lists the docs' common templates"
    assert {t["status"] for t in data["templates"]} == {"APPROVED"}
    names = {t["name"] for t in data["templates"]}
    assert {"order_confirmation", "shipping_update", "appointment_reminder"} <= names
