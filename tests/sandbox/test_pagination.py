"""Lists answer in the documented shape: `{"<items>": [...], "pagination": {"total", "page",
"per_page"}}` (docs/apimw-api.md, "Lists and pagination"), with `?page=`/`?per_page=` checked."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from apimw_cli.sandbox.clock import iso
from tests.sandbox.support import (
    MakeApi,
    MakeSandbox,
    RunningSandboxLike,
    assert_names_field,
    client,
    create_webhook,
    data_of,
    emit,
    error_of,
    token_pair,
)
from tests.support.endpoint import Behaviour
from tests.support.sandbox import MakeEndpoint
from tests.support.waiting import wait_for

PAGINATION_KEYS = {"total", "page", "per_page"}
COUNT = 45  # the case: more than two pages of the documented size


@pytest.fixture(scope="module")
def crowded(module_sandbox: RunningSandboxLike) -> Iterator[tuple[httpx.Client, list[str]]]:
    """The module's sandbox with COUNT webhooks (their ids, oldest first)."""
    token = token_pair(module_sandbox.base_url)["access_token"]
    with client(module_sandbox.base_url, token) as api:
        ids = [
            create_webhook(api, f"https://localhost:1/hook-{n}", active=False)["id"]
            for n in range(COUNT)
        ]
        yield api, ids


def _page(api: httpx.Client, **params: int | str) -> Any:
    return data_of(api.get("webhooks", params=params))


def test_default_page_is_the_documented_shape(crowded: tuple[httpx.Client, list[str]]) -> None:
    api, ids = crowded
    data = _page(api)
    assert set(data) == {"webhooks", "pagination"}
    assert data["pagination"] == {"total": COUNT, "page": 1, "per_page": 20}
    assert [w["id"] for w in data["webhooks"]] == ids[:20]


def test_pages_cover_every_webhook_once_in_order(
    crowded: tuple[httpx.Client, list[str]],
) -> None:
    api, ids = crowded
    seen: list[str] = []
    for page in (1, 2, 3):
        data = _page(api, page=page, per_page=20)
        assert data["pagination"] == {"total": COUNT, "page": page, "per_page": 20}
        seen += [w["id"] for w in data["webhooks"]]
    assert seen == ids
    after = _page(api, page=4, per_page=20)
    assert after["webhooks"] == []
    assert after["pagination"] == {"total": COUNT, "page": 4, "per_page": 20}


def test_per_page_above_the_cap_is_lowered_and_said(
    crowded: tuple[httpx.Client, list[str]],
) -> None:
    api, _ = crowded
    data = _page(api, per_page=500)
    assert data["pagination"] == {"total": COUNT, "page": 1, "per_page": 100}
    assert len(data["webhooks"]) == COUNT


@pytest.mark.parametrize("name", ["page", "per_page"])
@pytest.mark.parametrize(
    "value",
    [
        "0",
        "-1",
        "abc",
        "1.5",
        "",
        " 2",
        "\N{SUPERSCRIPT TWO}",
        "\N{FULLWIDTH DIGIT ONE}",
        "\N{ARABIC-INDIC DIGIT THREE}",
        "99999999999999999999",
        "1e3",
    ],
    ids=repr,
)
def test_bad_page_parameters_are_validation_errors_naming_them(
    crowded: tuple[httpx.Client, list[str]], name: str, value: str
) -> None:
    api, _ = crowded
    error = error_of(api.get("webhooks", params={name: value}), 400, "VALIDATION_ERROR")
    assert_names_field(error, name)


def test_deliveries_are_a_page_with_pagination(
    make_sandbox: MakeSandbox, make_sandbox_api: MakeApi, make_endpoint: MakeEndpoint
) -> None:
    api = make_sandbox_api(make_sandbox())
    hook = make_endpoint(Behaviour(status=200))
    webhook = create_webhook(api, hook.url, ["message.sent"])
    for _ in range(3):
        emit(api, "message.sent")
    hook.wait_deliveries(3)
    path = f"webhooks/{webhook['id']}/deliveries"

    def listed() -> Any:
        data = data_of(api.get(path))
        return data if data["pagination"] == {"total": 3, "page": 1, "per_page": 20} else None

    data = wait_for(listed, 10.0, "three attempts listed")
    assert set(data) == {"deliveries", "pagination"}
    second = data_of(api.get(path, params={"page": 2, "per_page": 2}))
    assert second["pagination"] == {"total": 3, "page": 2, "per_page": 2}
    assert [d["id"] for d in second["deliveries"]] == [data["deliveries"][2]["id"]]
    # `limit`, which older clients send, is the page size.
    limited = data_of(api.get(path, params={"limit": 1}))
    assert limited["pagination"] == {"total": 3, "page": 1, "per_page": 1}
    assert len(limited["deliveries"]) == 1
    error = error_of(api.get(path, params={"limit": "²"}), 400, "VALIDATION_ERROR")
    assert_names_field(error, "limit")


def test_iso_is_seconds_with_z_and_never_rounds_up() -> None:
    assert iso(1705314600.0) == "2024-01-15T10:30:00Z"
    assert iso(1705314600.999) == "2024-01-15T10:30:00Z"
    assert iso(None) is None
