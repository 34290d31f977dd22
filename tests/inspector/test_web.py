"""The inspector's routes over a real session log (Recorder-written, read by the real LogIndex):
the page, /api/info, the list with its paging and filters, details, the body download, curl and
replay, and every way the page could ask wrongly."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from apimw_cli.protocol import SIGNATURE_HEADER
from apimw_cli.signing import sign, verify
from tests.inspector.web_support import (
    SECRET,
    TOKEN,
    Inspector,
    SessionLog,
    event_body,
    inspector_over,
)
from tests.support.capture import CaptureServer, Reply


@pytest.fixture
def log(tmp_path: Path) -> Iterator[SessionLog]:
    session = SessionLog(tmp_path / "sessions" / "20261130-120000.jsonl")
    yield session
    session.close()


@pytest.fixture
def app() -> Iterator[CaptureServer]:
    with CaptureServer(Reply(202, b'{"ok":true}')) as server:
        yield server


@pytest.fixture
def page(log: SessionLog, app: CaptureServer) -> Iterator[Inspector]:
    yield from inspector_over(log, target=app.url)


def test_the_page_carries_the_token_and_its_own_script_and_style(page: Inspector) -> None:
    answer = page.get("/")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    assert f'<meta name="apimw-token" content="{TOKEN}">' in answer.text
    assert '<script src="/app.js" defer></script>' in answer.text
    script = page.get("/app.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert "EventSource" in script.text
    style = page.get("/app.css")
    assert style.status_code == 200
    assert style.headers["content-type"].startswith("text/css")


def test_info_says_what_the_page_can_do(log: SessionLog, app: CaptureServer) -> None:
    for client in inspector_over(log, target=app.url):
        info = client.get("/api/info").json()
        assert info["can_replay"] and info["can_resign"]
        assert info["replay_off"] is None and info["resign_off"] is None
        assert info["live"] is True
        assert info["log"] == "20261130-120000.jsonl"  # the name, not the path
        assert info["title"] == "test session"
    for client in inspector_over(log, target=None, secret=None, live=False):
        info = client.get("/api/info").json()
        assert not info["can_replay"] and not info["can_resign"]
        assert "--forward-to" in info["replay_off"] and "--to" in info["replay_off"]
        assert "--resign" in info["resign_off"]
        assert info["live"] is False


def test_info_never_passes_on_a_secret_it_was_given(log: SessionLog) -> None:
    from tests.inspector.web_support import BASE, TestClient, build

    built = build(log.path, info={"title": "t", "secret": SECRET, "Resign_Secret": SECRET})
    with TestClient(built.app, base_url=BASE) as client:
        answer = client.get("/api/info")
    assert SECRET not in answer.text
    assert answer.json()["title"] == "t"


def test_events_newest_first_with_paging_and_a_cursor(page: Inspector, log: SessionLog) -> None:
    ids = [log.event() for _ in range(7)]
    answer = page.get("/api/events?limit=3").json()
    assert [row["id"] for row in answer["rows"]] == ids[::-1][:3]
    assert answer["more"] is True
    assert set(answer["cursor"]) == {"seq", "forwards"}
    assert answer["cursor"]["seq"] == max(row["seq"] for row in answer["rows"])
    older = page.get(f"/api/events?limit=3&before={ids[4]}").json()
    assert [row["id"] for row in older["rows"]] == [ids[3], ids[2], ids[1]]
    last = page.get(f"/api/events?limit=3&before={ids[1]}").json()
    assert [row["id"] for row in last["rows"]] == [ids[0]]
    assert last["more"] is False


def test_events_start_empty(page: Inspector) -> None:
    answer = page.get("/api/events").json()
    assert answer["rows"] == [] and answer["more"] is False


def test_new_lines_show_up_on_the_next_request(page: Inspector, log: SessionLog) -> None:
    first = log.event()
    assert [row["id"] for row in page.rows()] == [first]
    second = log.event()
    assert [row["id"] for row in page.rows()] == [second, first]


def test_filters_by_type_verdict_forward_and_body_text(page: Inspector, log: SessionLog) -> None:
    sent = log.event(event_type="message.sent")
    delivered = log.event(
        event_body("message.delivered", 2, text="Zebra-42"), event_type="message.delivered"
    )
    forged = log.event(event_type="message.read", signed_with="whsec_someone_else")
    failing = log.event(event_type="message.sent")
    log.forward(sent, 200)
    log.forward(delivered, 200)
    log.forward(failing, 500)

    def ids(query: str) -> set[str]:
        return {row["id"] for row in page.rows(query)}

    assert ids("?type=message.delivered") == {delivered}
    assert ids("?type=message.*") == {sent, delivered, forged, failing}
    assert ids("?verdict=invalid") == {forged}
    assert ids("?verdict=valid") == {sent, delivered, failing}
    assert ids("?forward=failed") == {failing}
    assert ids("?forward=ok") == {sent, delivered}
    assert ids("?q=zebra-42") == {delivered}  # any case
    assert ids("?q=zebra-42&type=message.sent") == set()
    assert ids("?type=&verdict=&forward=&q=") == {sent, delivered, forged, failing}


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("?limit=0", "limit"),
        ("?limit=501", "limit"),
        ("?limit=abc", "limit"),
        ("?limit=-1", "limit"),
        ("?limit=1&limit=2", "limit"),
        ("?verdict=maybe", "verdict"),
        ("?forward=sideways", "forward"),
        ("?q=" + "x" * 1001, "q"),
        ("?type=" + "t" * 1001, "type"),
        ("?before=" + "r" * 4097, "before"),
    ],
)
def test_bad_list_parameters_are_refused(page: Inspector, query: str, says: str) -> None:
    answer = page.get("/api/events" + query)
    assert answer.status_code == 400
    assert says in answer.json()["error"]


def test_details_of_an_event(page: Inspector, log: SessionLog) -> None:
    record_id = log.event(headers={"x-custom": "a value"})
    log.forward(record_id, 201)
    detail = page.get(f"/api/events/{record_id}").json()
    assert detail["id"] == record_id
    assert detail["verdict"]["code"] == "valid"
    assert detail["forwards"][0]["status"] == 201
    assert detail["body"]["size"] == len(page.get(f"/api/events/{record_id}/body").content)
    assert "base64" not in detail["body"]  # the bytes come from /body, not in every detail
    assert SECRET not in page.get(f"/api/events/{record_id}").text


def test_a_failed_signature_comes_with_the_clis_diagnosis(page: Inspector, log: SessionLog) -> None:
    signed = b'{"type":"message.sent"}'
    body = b'{\n  "type": "message.sent"\n}'  # re-encoded after signing
    record_id = log.event(body, headers={SIGNATURE_HEADER.lower(): sign(signed, SECRET)})
    detail = page.get(f"/api/events/{record_id}").json()
    expected = verify(body, sign(signed, SECRET), SECRET)
    assert not expected.valid and expected.diagnosis
    assert detail["verdict"]["code"] == str(expected.code)
    assert detail["verdict"]["reason"] == expected.reason
    assert detail["verdict"]["diagnosis"] == expected.diagnosis


def test_unknown_or_impossible_ids_are_404(page: Inspector, log: SessionLog) -> None:
    log.event()
    for path in (
        "/api/events/rec_nope",
        "/api/events/rec_nope/body",
        "/api/events/" + "r" * 4097,
    ):
        answer = page.get(path)
        assert answer.status_code == 404, path
        assert "error" in answer.json()
    assert page.curl("rec_nope").status_code == 404
    assert page.replay("rec_nope").status_code == 404


def test_the_body_downloads_byte_for_byte(page: Inspector, log: SessionLog) -> None:
    body = b"\x00\xff\xfe not UTF-8 \x1b[31m <script>alert(1)</script> \r\n"
    record_id = log.event(body)
    answer = page.get(f"/api/events/{record_id}/body")
    assert answer.status_code == 200
    assert answer.content == body
    assert answer.headers["content-type"] == "application/octet-stream"
    assert answer.headers["content-disposition"] == f'attachment; filename="{record_id}.body"'


def test_curl_needs_the_token_and_gives_a_command(page: Inspector, log: SessionLog) -> None:
    record_id = log.event()
    answer = page.curl(record_id)
    assert answer.status_code == 200, answer.text
    assert answer.json()["mode"] == "resigned"  # the default when a secret is known
    command = answer.json()["command"]
    assert "curl" in command and SECRET not in command
    assert page.curl(record_id, "verbatim").json()["mode"] == "verbatim"
    assert page.curl(record_id, "sideways").status_code == 400
    assert page.get(f"/api/events/{record_id}/curl").status_code == 403


def test_curl_defaults_to_verbatim_without_a_secret(log: SessionLog) -> None:
    record_id = log.event()
    for client in inspector_over(log, secret=None):
        assert client.curl(record_id).json()["mode"] == "verbatim"
        refused = client.curl(record_id, "resigned")
        assert refused.status_code == 409, refused.text
        assert "error" in refused.json()


def test_a_curl_command_reproduces_the_request(
    page: Inspector, log: SessionLog, app: CaptureServer
) -> None:
    body = b'{"quote":"it\'s","percent":"100%","backslash":"a\\\\b","nul":"\\u0000"}'
    record_id = log.event(body)
    command = page.curl(record_id, "resigned").json()["command"]
    assert shlex.split(command)[0] == "printf"  # one command line, for sh, bash and zsh
    subprocess.run(["sh", "-c", command], check=True, capture_output=True, timeout=30)
    sent = app.wait_requests(1)[0]
    assert sent.body == body
    assert sent.header(SIGNATURE_HEADER) is not None


def test_replay_sends_to_the_target_and_adds_a_linked_row(
    page: Inspector, log: SessionLog, app: CaptureServer
) -> None:
    body = event_body("message.sent", 1, note="replay me")
    record_id = log.event(body)
    answer = page.replay(record_id, "verbatim")
    assert answer.status_code == 200, answer.text
    row = answer.json()
    assert row["kind"] == "replay" and row["replay_of"] == record_id
    assert row["forwards"][0]["status"] == 202
    sent = app.wait_requests(1)[0]
    assert sent.body == body
    rows = page.rows()
    assert rows[0]["id"] == row["id"] and rows[0]["replay_of"] == record_id
    resigned = page.replay(record_id, "resigned")
    assert resigned.status_code == 200, resigned.text
    assert verify(body, app.wait_requests(2)[1].header(SIGNATURE_HEADER), SECRET).valid
    assert SECRET not in answer.text + resigned.text


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        (b'{"mode": "sideways"}', "mode"),
        (b'{"mode": 1}', "mode"),
        (b"{}", "mode"),
        (b"[]", "mode"),
        (b"not json", "JSON"),
        (b'{"mode": "verbatim", "pad": "' + b"x" * 5000 + b'"}', "large"),
    ],
)
def test_a_replay_asked_wrongly_is_refused(
    page: Inspector, log: SessionLog, app: CaptureServer, payload: bytes, says: str
) -> None:
    record_id = log.event()
    answer = page.client.post(
        f"/api/events/{record_id}/replay", content=payload, headers=page.action_headers()
    )
    assert answer.status_code == 400
    assert says in answer.json()["error"]
    assert app.requests == []


def test_replay_without_a_target_or_a_secret_is_refused_with_a_reason(log: SessionLog) -> None:
    record_id = log.event()
    for client in inspector_over(log, target=None):
        answer = client.replay(record_id)
        assert answer.status_code == 409
        assert answer.json()["error"]
    with CaptureServer(Reply(200)) as app:
        for client in inspector_over(log, target=app.url, secret=None):
            assert client.replay(record_id, "resigned").status_code == 409
            assert client.replay(record_id, "verbatim").status_code == 200
            app.wait_requests(1)


def test_a_replay_to_an_app_that_is_down_says_so(log: SessionLog) -> None:
    with CaptureServer(Reply(200)) as gone:
        url = gone.url
    record_id = log.event()
    for client in inspector_over(log, target=url):
        answer = client.replay(record_id)
        assert answer.status_code == 200, answer.text
        row = answer.json()
        (outcome,) = row["forwards"]
        assert outcome["status"] is None and outcome["error"]


def test_methods_and_paths_the_page_never_uses(page: Inspector) -> None:
    assert page.client.post("/").status_code == 405
    assert page.client.delete("/api/events").status_code == 405
    assert page.client.get("/api/events/x/replay").status_code == 405
    assert page.get("/nothing/here").status_code == 404
    assert page.get("/static/app.js").status_code == 404
    assert page.get("/../pyproject.toml").status_code == 404


def test_every_answer_is_json_where_the_page_expects_json(page: Inspector, log: SessionLog) -> None:
    record_id = log.event()
    for path in ("/api/info", "/api/events", f"/api/events/{record_id}", "/api/events/nope"):
        answer = page.get(path)
        assert answer.headers["content-type"] == "application/json", path
        answer.json()
