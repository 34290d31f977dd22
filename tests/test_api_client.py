"""The API client against httpx.MockTransport: envelopes, error mapping, retries, rate limits."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from apimw_cli import __version__
from apimw_cli.api.client import ApiClient, as_list
from apimw_cli.errors import (
    ApiError,
    AuthenticationError,
    ExitCode,
    NetworkError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    ValidationError,
)
from tests.fakeapi import BASE, envelope, error

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    def __init__(self, *responses: httpx.Response | Exception) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        item = self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]
        if isinstance(item, Exception):
            raise item
        return item


def make_client(handler: Handler, **kw: object) -> tuple[ApiClient, list[float], list[str]]:
    sleeps: list[float] = []
    notes: list[str] = []
    client = ApiClient(
        BASE,
        transport=httpx.MockTransport(handler),
        sleep=sleeps.append,
        notify=notes.append,
        **kw,  # type: ignore[arg-type]
    )
    return client, sleeps, notes


def test_unwraps_the_success_envelope() -> None:
    client, _, _ = make_client(Recorder(envelope({"id": "whk_1"})))
    assert client.request("GET", "webhooks/whk_1", auth=False).data == {"id": "whk_1"}


def test_sends_user_agent_and_json_accept() -> None:
    recorder = Recorder(envelope([]))
    client, _, _ = make_client(recorder)
    client.request("GET", "webhooks", auth=False)
    assert recorder.requests[0].headers["User-Agent"] == f"apimw-cli/{__version__}"
    assert recorder.requests[0].url == httpx.URL(f"{BASE}/webhooks")


def test_tolerates_a_body_without_envelope() -> None:
    client, _, _ = make_client(Recorder(httpx.Response(200, json={"id": "whk_1"})))
    assert client.request("GET", "x", auth=False).data == {"id": "whk_1"}


def test_empty_success_body_gives_none() -> None:
    client, _, _ = make_client(Recorder(httpx.Response(204)))
    assert client.request("DELETE", "x", auth=False).data is None


def test_non_json_success_body_is_a_server_error() -> None:
    client, _, _ = make_client(Recorder(httpx.Response(200, text="<html>hi</html>")))
    with pytest.raises(ServerError, match="not JSON"):
        client.request("POST", "x", auth=False)


def test_success_false_in_a_200_is_an_error() -> None:
    body = {"success": False, "error": {"code": "VALIDATION_ERROR", "message": "url: bad"}}
    client, _, _ = make_client(Recorder(httpx.Response(200, json=body)))
    with pytest.raises(ApiError, match="VALIDATION_ERROR: url: bad"):
        client.request("POST", "x", auth=False)


@pytest.mark.parametrize(
    ("status", "code", "kind", "exit_code"),
    [
        (400, "VALIDATION_ERROR", ValidationError, ExitCode.API_CLIENT),
        (401, "INVALID_TOKEN", AuthenticationError, ExitCode.CONFIG),
        (403, "FORBIDDEN", PermissionDeniedError, ExitCode.API_CLIENT),
        (404, "NOT_FOUND", NotFoundError, ExitCode.API_CLIENT),
        (500, "INTERNAL_ERROR", ServerError, ExitCode.API_SERVER),
    ],
)
def test_error_status_maps_to_typed_error_with_exit_code(
    status: int, code: str, kind: type[ApiError], exit_code: ExitCode
) -> None:
    response = error(status, code, "what went wrong")
    response.headers["X-Request-Id"] = "req_123"
    client, _, _ = make_client(Recorder(response), max_retries=0)
    with pytest.raises(kind) as caught:
        client.request("POST", "x", auth=False)
    assert caught.value.status == status
    assert caught.value.code == code
    assert caught.value.request_id == "req_123"
    assert caught.value.message == f"{code}: what went wrong"
    assert caught.value.exit_code == exit_code


def test_html_error_page_gives_a_readable_message() -> None:
    page = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    client, _, _ = make_client(Recorder(httpx.Response(502, text=page)), max_retries=0)
    with pytest.raises(ServerError) as caught:
        client.request("GET", "x", auth=False)
    assert "HTTP 502 Bad Gateway (a non-JSON body: <html><body><h1>502" in caught.value.message
    assert caught.value.code is None


def test_empty_error_body_says_so() -> None:
    client, _, _ = make_client(Recorder(httpx.Response(403)))
    with pytest.raises(PermissionDeniedError, match=r"HTTP 403 Forbidden \(an empty body\)"):
        client.request("GET", "x", auth=False)


def test_429_waits_retry_after_from_body_then_succeeds() -> None:
    recorder = Recorder(error(429, "RATE_LIMIT_EXCEEDED", retry_after=7), envelope({"ok": 1}))
    client, sleeps, notes = make_client(recorder)
    assert client.request("POST", "x", auth=False).data == {"ok": 1}
    assert len(recorder.requests) == 2
    assert 7 <= sleeps[0] <= 8  # retry_after plus at most a second of jitter
    assert notes[0].startswith("rate limited, retrying in 7.")


def test_429_waits_retry_after_header_when_body_has_none() -> None:
    limited = httpx.Response(429, json={"success": False, "error": {"code": "RATE_LIMIT_EXCEEDED"}})
    limited.headers["Retry-After"] = "3"
    client, sleeps, _ = make_client(Recorder(limited, envelope({})))
    client.request("GET", "x", auth=False)
    assert 3 <= sleeps[0] <= 4


def test_429_without_any_hint_backs_off_exponentially() -> None:
    limited = error(429, "RATE_LIMIT_EXCEEDED")
    client, sleeps, _ = make_client(Recorder(limited, limited, limited, envelope({})))
    client.request("GET", "x", auth=False)
    assert len(sleeps) == 3
    assert sleeps[0] < sleeps[1] < sleeps[2]
    assert 0.5 <= sleeps[0] <= 1.0 and 2.0 <= sleeps[2] <= 3.0


def test_429_gives_up_after_three_retries() -> None:
    recorder = Recorder(error(429, "RATE_LIMIT_EXCEEDED", retry_after=1))
    client, sleeps, notes = make_client(recorder)
    with pytest.raises(RateLimitError) as caught:
        client.request("POST", "x", auth=False)
    assert len(recorder.requests) == 4
    assert len(sleeps) == 3 and len(notes) == 3
    assert caught.value.hint is not None


def test_429_with_a_very_long_retry_after_is_not_waited_for() -> None:
    recorder = Recorder(error(429, "RATE_LIMIT_EXCEEDED", retry_after=3600))
    client, sleeps, _ = make_client(recorder)
    with pytest.raises(RateLimitError) as caught:
        client.request("GET", "x", auth=False)
    assert sleeps == []
    assert caught.value.retry_after == 3600
    assert "3600" in (caught.value.hint or "")


def test_5xx_is_retried_for_get() -> None:
    recorder = Recorder(error(503, "INTERNAL_ERROR"), envelope({"ok": True}))
    client, _, notes = make_client(recorder)
    assert client.request("GET", "x", auth=False).data == {"ok": True}
    assert len(recorder.requests) == 2
    assert "retrying in" in notes[0]


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_5xx_is_not_retried_for_non_idempotent_methods(method: str) -> None:
    recorder = Recorder(error(500, "INTERNAL_ERROR"), envelope({}))
    client, _, _ = make_client(recorder)
    with pytest.raises(ServerError):
        client.request(method, "x", auth=False)
    assert len(recorder.requests) == 1


def test_read_timeout_on_post_is_not_retried() -> None:
    recorder = Recorder(httpx.ReadTimeout("slow"), envelope({}))
    client, _, _ = make_client(recorder)
    with pytest.raises(NetworkError, match="timed out") as caught:
        client.request("POST", "webhooks", auth=False)
    assert len(recorder.requests) == 1
    assert caught.value.exit_code == ExitCode.NETWORK


def test_read_timeout_on_get_is_retried() -> None:
    recorder = Recorder(httpx.ReadTimeout("slow"), envelope({"ok": 1}))
    client, _, _ = make_client(recorder)
    assert client.request("GET", "x", auth=False).data == {"ok": 1}


def test_connection_refused_is_retried_even_for_post() -> None:
    recorder = Recorder(httpx.ConnectError("refused"), envelope({"ok": 1}))
    client, _, _ = make_client(recorder)
    assert client.request("POST", "x", auth=False).data == {"ok": 1}
    assert len(recorder.requests) == 2


def test_connection_refused_everywhere_is_a_network_error_with_a_hint() -> None:
    client, sleeps, _ = make_client(Recorder(httpx.ConnectError("refused")))
    with pytest.raises(NetworkError) as caught:
        client.request("GET", "x", auth=False)
    assert len(sleeps) == 3
    assert "could not connect" in caught.value.message
    assert caught.value.hint is not None


def test_bearer_token_is_sent() -> None:
    class Tokens:
        def token(self) -> str:
            return "at_1"

        def renew(self, rejected: str, code: str) -> str:
            raise AssertionError("no renewal expected")

    recorder = Recorder(envelope({}))
    client, _, _ = make_client(recorder, authenticator=lambda _client: Tokens())
    client.request("GET", "x")
    assert recorder.requests[0].headers["Authorization"] == "Bearer at_1"


def test_expired_token_triggers_exactly_one_renewal() -> None:
    class Tokens:
        renewals = 0

        def token(self) -> str:
            return "at_old"

        def renew(self, rejected: str, code: str) -> str:
            assert (rejected, code) == ("at_old", "EXPIRED_TOKEN")
            self.renewals += 1
            return "at_new"

    expired = error(401, "EXPIRED_TOKEN")
    recorder = Recorder(expired, expired, envelope({}))
    tokens = Tokens()
    client, _, _ = make_client(recorder, authenticator=lambda _client: tokens)
    with pytest.raises(AuthenticationError):
        client.request("GET", "x")
    assert tokens.renewals == 1
    assert [r.headers["Authorization"] for r in recorder.requests] == [
        "Bearer at_old",
        "Bearer at_new",
    ]


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (401, "INVALID_CREDENTIALS"),
        (401, "UNAUTHORIZED"),
        (403, "FORBIDDEN"),
        (400, "INVALID_TOKEN"),
    ],
)
def test_other_refusals_do_not_renew(status: int, code: str) -> None:
    class Tokens:
        def token(self) -> str:
            return "at_1"

        def renew(self, rejected: str, code: str) -> str:
            raise AssertionError(f"must not renew on {code}")

    recorder = Recorder(error(status, code))
    client, _, _ = make_client(recorder, authenticator=lambda _client: Tokens())
    with pytest.raises(ApiError):
        client.request("POST", "x")
    assert len(recorder.requests) == 1


def test_as_list_accepts_a_plain_list() -> None:
    assert as_list([{"id": 1}], "webhooks") == ([{"id": 1}], {})


def test_as_list_accepts_the_paginated_shape() -> None:
    items, pagination = as_list({"webhooks": [{"id": 1}], "pagination": {"page": 1}}, "webhooks")
    assert items == [{"id": 1}]
    assert pagination == {"page": 1}


def test_as_list_rejects_other_shapes() -> None:
    with pytest.raises(ServerError):
        as_list({"nope": 1}, "webhooks")
