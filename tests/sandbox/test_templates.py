"""Templates: the list (`GET /v1/whatsapp/templates`) and template messages
(`POST /v1/whatsapp/messages/template`), compared with the docs' examples (page
whatsapp-template and whatsapp-templates-list, docs/apimw-api.md "Templates")."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.sandbox.support import (
    MakeApi,
    MakeSandbox,
    assert_names_field,
    create_webhook,
    data_of,
    error_of,
    wait_verified,
)
from tests.support import docs_examples
from tests.support.sandbox import MakeEndpoint
from tests.support.waiting import wait_for

TO = "+1234567890"
# The docs' example request and the list page's example template, word for word.
DOCS_REQUEST: dict[str, Any] = docs_examples.TEMPLATE_SEND_REQUEST
DOCS_ORDER_CONFIRMATION: dict[str, Any] = docs_examples.TEMPLATES_LIST["data"]["templates"][0]
SECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def body(*texts: str) -> list[dict[str, Any]]:
    return [{"type": "body", "parameters": [{"type": "text", "text": t} for t in texts]}]


def send(api: httpx.Client, **changes: Any) -> httpx.Response:
    return api.post("whatsapp/messages/template", json={**DOCS_REQUEST, **changes})


def templates(api: httpx.Client, **params: Any) -> dict[str, Any]:
    answer: dict[str, Any] = data_of(api.get("whatsapp/templates", params=params))
    return answer


# --- the list ----------------------------------------------------------------------------------


def test_list_has_the_documented_shape(sandbox_api: httpx.Client) -> None:
    answer = templates(sandbox_api)
    assert set(answer) == {"templates", "pagination"}
    assert set(answer["pagination"]) == {"total", "page", "per_page"}
    assert answer["pagination"]["page"] == 1 and answer["pagination"]["per_page"] == 20
    assert answer["pagination"]["total"] == len(answer["templates"])
    for template in answer["templates"]:
        assert set(template) == {"name", "language", "status", "category", "components"}
        assert template["status"] in ("APPROVED", "PENDING", "REJECTED")
        assert template["category"] in ("TRANSACTIONAL", "MARKETING", "OTP", "UTILITY")
        assert any(
            c["type"] == "BODY" and isinstance(c["text"], str) for c in template["components"]
        )
    assert DOCS_ORDER_CONFIRMATION in answer["templates"]


def test_list_holds_the_docs_common_templates(sandbox_api: httpx.Client) -> None:
    approved = templates(sandbox_api, status="APPROVED")["templates"]
    by_name = {(t["name"], t["language"]): t for t in approved}
    # The docs' variables: order_confirmation 3, shipping_update 2, appointment_reminder 3.
    for name, count in [
        ("order_confirmation", 3),
        ("shipping_update", 2),
        ("appointment_reminder", 3),
    ]:
        (body_part,) = [c for c in by_name[(name, "en")]["components"] if c["type"] == "BODY"]
        assert f"{{{{{count}}}}}" in body_part["text"]
        assert f"{{{{{count + 1}}}}}" not in body_part["text"]


@pytest.mark.parametrize("status", ["APPROVED", "PENDING", "REJECTED"])
def test_list_filters_by_status(sandbox_api: httpx.Client, status: str) -> None:
    answer = templates(sandbox_api, status=status)
    assert answer["templates"]
    assert {t["status"] for t in answer["templates"]} == {status}
    assert answer["pagination"]["total"] == len(answer["templates"])


def test_list_filters_by_category(sandbox_api: httpx.Client) -> None:
    answer = templates(sandbox_api, category="MARKETING")
    assert answer["templates"]
    assert {t["category"] for t in answer["templates"]} == {"MARKETING"}


def test_list_pages(sandbox_api: httpx.Client) -> None:
    everything = templates(sandbox_api)["templates"]
    pages = [templates(sandbox_api, page=n, per_page=2) for n in range(1, 10)]
    seen = [t for page in pages for t in page["templates"]]
    assert seen == everything
    assert all(p["pagination"]["total"] == len(everything) for p in pages)
    assert [p["pagination"]["page"] for p in pages] == list(range(1, 10))
    assert pages[-1]["templates"] == []  # past the end: an empty page, not an error


def test_a_page_size_over_100_is_lowered_to_100(sandbox_api: httpx.Client) -> None:
    assert templates(sandbox_api, per_page=500)["pagination"]["per_page"] == 100


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "LIVE"}, "status"),
        ({"category": "SPAM"}, "category"),
        ({"page": "0"}, "page"),
        ({"per_page": "x"}, "per_page"),
    ],
)
def test_list_refuses_bad_filters(
    sandbox_api: httpx.Client, params: dict[str, str], field: str
) -> None:
    error = error_of(sandbox_api.get("whatsapp/templates", params=params), 400, "VALIDATION_ERROR")
    assert_names_field(error, field)


def test_list_needs_a_token(anon: httpx.Client) -> None:
    error_of(anon.get("whatsapp/templates"), 401, "INVALID_TOKEN")


# --- sending -----------------------------------------------------------------------------------


def test_the_docs_example_request_is_answered_in_the_docs_shape(sandbox_api: httpx.Client) -> None:
    sent = data_of(send(sandbox_api))
    assert set(sent) == {"message_id", "to", "template", "status", "timestamp"}
    assert sent["message_id"].startswith("wamid.")
    assert sent["to"] == TO
    assert sent["template"] == "order_confirmation"
    assert sent["status"] == "sent"
    assert SECONDS.match(sent["timestamp"]), sent["timestamp"]


def test_the_docs_component_shapes_are_accepted(sandbox_api: httpx.Client) -> None:
    """The docs' body example mixes text and currency parameters."""
    components = [
        {
            "type": "body",
            "parameters": [
                {"type": "text", "text": "John Doe"},
                {"type": "text", "text": "ORD-12345"},
                {"type": "currency", "currency": {"code": "USD", "amount_1000": 99990}},
            ],
        }
    ]
    assert data_of(send(sandbox_api, components=components))["status"] == "sent"


def test_a_template_message_is_looked_up_as_a_template(sandbox_api: httpx.Client) -> None:
    sent = data_of(send(sandbox_api))
    status = data_of(sandbox_api.get(f"whatsapp/messages/{sent['message_id']}"))
    assert status["type"] == "template"
    assert status["template"] == "order_confirmation"
    assert status["to"] == TO
    assert set(status["timestamps"]) == {"sent", "delivered", "read"}


def test_a_template_makes_the_same_status_events_as_a_text(
    make_sandbox: MakeSandbox, make_sandbox_api: MakeApi, make_endpoint: MakeEndpoint
) -> None:
    """Sent, delivered, read, even though the customer never wrote: templates open
    conversations and the 24-hour window does not hold them back."""
    api = make_sandbox_api(make_sandbox(time_scale=10.0))
    hook = make_endpoint()
    created = create_webhook(api, hook.url, ["message.sent", "message.delivered", "message.read"])
    wait_verified(api, created["id"])
    sent = data_of(send(api))
    events = hook.wait_deliveries(3)
    assert [e.event_type for e in events] == ["message.sent", "message.delivered", "message.read"]
    assert {e.json()["data"]["message_id"] for e in events} == {sent["message_id"]}
    assert events[0].json()["data"]["message_type"] == "template"

    def read() -> bool:
        return bool(data_of(api.get(f"whatsapp/messages/{sent['message_id']}"))["status"] == "read")

    wait_for(read, what="the template message read")


def test_a_template_to_a_number_ending_0000_fails(
    make_sandbox: MakeSandbox, make_sandbox_api: MakeApi, make_endpoint: MakeEndpoint
) -> None:
    api = make_sandbox_api(make_sandbox(time_scale=10.0))
    hook = make_endpoint()
    created = create_webhook(api, hook.url, ["message.sent", "message.failed"])
    wait_verified(api, created["id"])
    data_of(send(api, to="+14155550000"))
    sent, failed = hook.wait_deliveries(2)
    assert [sent.event_type, failed.event_type] == ["message.sent", "message.failed"]
    assert failed.json()["data"]["error"]["code"] == "131026"


def test_other_languages_are_versions_of_the_same_template(sandbox_api: httpx.Client) -> None:
    assert data_of(send(sandbox_api, language="es"))["template"] == "order_confirmation"


def test_components_are_optional(sandbox_api: httpx.Client) -> None:
    request = {"to": TO, "template": "hello_world", "language": "en"}
    sent = data_of(sandbox_api.post("whatsapp/messages/template", json=request))
    assert sent["template"] == "hello_world"


def test_leaving_out_components_a_template_needs_is_refused(sandbox_api: httpx.Client) -> None:
    """components is optional (hello_world goes without), but order_confirmation takes three
    body parameters."""
    request = {k: v for k, v in DOCS_REQUEST.items() if k != "components"}
    error = error_of(
        sandbox_api.post("whatsapp/messages/template", json=request), 400, "VALIDATION_ERROR"
    )
    assert_names_field(error, "components")
    assert "3 body parameters" in error["message"] and "0 given" in error["message"]


# --- refusals ----------------------------------------------------------------------------------


def test_an_unknown_template_is_404_naming_it(sandbox_api: httpx.Client) -> None:
    error = error_of(send(sandbox_api, template="order_confirmaton"), 404, "NOT_FOUND")
    assert "'order_confirmaton'" in error["message"]
    assert_names_field(error, "template")


def test_a_language_the_template_lacks_is_refused(sandbox_api: httpx.Client) -> None:
    error = error_of(send(sandbox_api, language="fr"), 400, "VALIDATION_ERROR")
    assert_names_field(error, "language")
    assert "'fr'" in error["message"] and "en, es" in error["message"]


@pytest.mark.parametrize(
    ("name", "status"), [("spring_sale", "PENDING"), ("win_back_offer", "REJECTED")]
)
def test_a_template_not_approved_is_refused(
    sandbox_api: httpx.Client, name: str, status: str
) -> None:
    error = error_of(send(sandbox_api, template=name), 400, "VALIDATION_ERROR")
    assert_names_field(error, "template")
    assert status in error["message"] and "APPROVED" in error["message"]


@pytest.mark.parametrize("given", [2, 4])
def test_a_wrong_number_of_body_parameters_is_refused(
    sandbox_api: httpx.Client, given: int
) -> None:
    texts = [f"v{i}" for i in range(given)]
    error = error_of(send(sandbox_api, components=body(*texts)), 400, "VALIDATION_ERROR")
    assert_names_field(error, "components")
    assert "3 body parameters" in error["message"] and f"{given} given" in error["message"]


@pytest.mark.parametrize(
    "components",
    [
        "body",
        [{"type": "footer", "parameters": []}],
        [{"type": "body", "parameters": [{"type": "text"}]}],
        [{"type": "body", "parameters": [{"type": "text", "text": 5}]}],
        [{"type": "body", "parameters": [{"type": "currency", "currency": {"code": "USD"}}]}],
        [{"type": "body", "parameters": [{"type": "image", "image": {}}]}],
        [{"type": "body", "parameters": [{"type": "sticker"}]}],
        [{"type": "body", "parameters": "John"}],
        [*body("a", "b", "c"), *body("a", "b", "c")],
        [{"type": "button", "index": 0, "parameters": []}],
        [{"type": "button", "sub_type": "url", "index": "0", "parameters": []}],
        [{"type": "button", "sub_type": "url", "index": 0, "parameters": []}, *body("a", "b", "c")],
        [{"type": "header", "parameters": [{"type": "text", "text": "x"}]}, *body("a", "b", "c")],
    ],
)
def test_malformed_or_unfitting_components_are_refused(
    sandbox_api: httpx.Client, components: Any
) -> None:
    error = error_of(send(sandbox_api, components=components), 400, "VALIDATION_ERROR")
    assert_names_field(error, "components")


@pytest.mark.parametrize("missing", ["to", "template", "language"])
def test_required_fields(sandbox_api: httpx.Client, missing: str) -> None:
    request = {k: v for k, v in DOCS_REQUEST.items() if k != missing}
    response = sandbox_api.post("whatsapp/messages/template", json=request)
    code = "INVALID_PHONE_NUMBER" if missing == "to" else "VALIDATION_ERROR"
    assert_names_field(error_of(response, 400, code), missing)


def test_unknown_fields_are_refused(sandbox_api: httpx.Client) -> None:
    error = error_of(send(sandbox_api, namespace="x"), 400, "VALIDATION_ERROR")
    assert_names_field(error, "namespace")


def test_a_bad_number_is_invalid_phone_number(sandbox_api: httpx.Client) -> None:
    error_of(send(sandbox_api, to="12345"), 400, "INVALID_PHONE_NUMBER")


def test_get_on_the_template_path_is_not_a_message(sandbox_api: httpx.Client) -> None:
    """The send route is POST-only; a GET there looks up a message called "template"."""
    error_of(sandbox_api.get("whatsapp/messages/template"), 404, "NOT_FOUND")
