"""Temporary webhooks without undocumented fields: the URL marker, the local records
(session/records.py), and an optional field an API refuses (api/webhooks.create)."""

from __future__ import annotations

import json
import os
import stat
import threading
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from apimw_cli.api import webhooks
from apimw_cli.api.client import ApiClient
from apimw_cli.errors import ValidationError
from apimw_cli.session import records

BASE = "https://api.test/v1"


@pytest.mark.parametrize(
    ("url", "session"),
    [
        ("https://x.ngrok.app/webhooks/apimw-listen-0123456789ab", "0123456789ab"),
        ("https://x.ngrok.app/in/apimw-listen-0123456789ab/", "0123456789ab"),
        ("https://yourapp.com/webhooks/apimw", None),  # the docs' own example URL
        ("https://x.test/webhooks/apimw-listen-0123", None),
        ("https://x.test/apimw-listen-0123456789ab/more", None),
        ("https://x.test/webhooks?next=apimw-listen-0123456789ab", None),
    ],
)
def test_the_marker_is_the_urls_last_segment_only(url: str, session: str | None) -> None:
    assert records.session_of(url) == session


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/webhooks", "/webhooks/apimw-listen-s"),
        ("/in/", "/in/apimw-listen-s"),
        ("/", "/apimw-listen-s"),
    ],
)
def test_a_given_path_gets_the_marker_appended(path: str, expected: str) -> None:
    assert records.marked_path(path, "s") == expected


def test_new_session_ids_carry_a_recognisable_marker() -> None:
    session = records.new_session_id()
    assert (
        records.session_of("https://h.test" + records.marked_path("/webhooks", session)) == session
    )


def record(session: str, pid: int = 1, host: str = "h") -> records.Record:
    url = f"https://h.test/webhooks/apimw-listen-{session}"
    return records.Record(session, f"whk_{session}", url, BASE, "default", pid, host, "t")


def test_records_are_private_files_and_round_trip() -> None:
    saved = record("0123456789ab")
    records.save(saved)
    path = records.records_dir() / "0123456789ab.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert records.load_all() == [saved]
    records.remove("0123456789ab")
    records.remove("0123456789ab")  # already gone: fine
    assert records.load_all() == []


def test_concurrent_sessions_never_lose_each_others_records() -> None:
    sessions = [f"{n:012x}" for n in range(40)]
    threads = [threading.Thread(target=records.save, args=(record(s),)) for s in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.session for r in records.load_all()) == sessions
    assert not [p for p in records.records_dir().iterdir() if p.name.startswith(".")]


def test_unreadable_or_foreign_files_are_skipped() -> None:
    records.save(record("0123456789ab"))
    (records.records_dir() / "junk.json").write_text("{not json")
    (records.records_dir() / "other.json").write_text(json.dumps({"session": "x"}))
    bad = {**record("ffffffffffff").__dict__, "session": "../../etc"}
    (records.records_dir() / "bad.json").write_text(json.dumps(bad))
    assert [r.session for r in records.load_all()] == ["0123456789ab"]


def test_owner_alive_on_this_host_only() -> None:
    here = records.Record.now("0123456789ab", "whk_1", "u", BASE, "default")
    assert here.owner_alive() is True and here.pid == os.getpid()
    assert record("0123456789ab", pid=here.pid, host="elsewhere").owner_alive() is None
    assert not records.pid_alive(0) and not records.pid_alive(-1)


def test_only_old_records_of_dead_owners_are_abandoned() -> None:
    now = 1_000_000_000.0  # 2001-09-09T01:46:40Z
    host = records.Record.now("0123456789ab", "whk_1", "u", BASE, "default").host
    dead = records.Record(
        "0123456789ab", "whk_1", "u", BASE, "default", 0, host, "2001-09-01T00:00:00Z"
    )
    assert dead.abandoned(now + records.RECORD_TTL)
    assert not dead.abandoned(now)  # 8 days: kept for its API's next session
    later = now + 2 * records.RECORD_TTL
    assert not replace(dead, pid=os.getpid()).abandoned(later)  # its owner lives
    assert not replace(dead, host="elsewhere").abandoned(later)  # cannot tell
    assert not replace(dead, started="x").abandoned(later)


def created(answers: list[httpx.Response]) -> tuple[list[dict[str, object]], list[str], object]:
    """create() with an optional description against an API answering `answers` in order."""
    bodies: list[dict[str, object]] = []
    said: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return answers[len(bodies) - 1]

    with ApiClient(BASE, transport=httpx.MockTransport(handle)) as client:
        try:
            result: object = webhooks.create(
                client,
                url="https://h.test/webhooks/apimw-listen-0123456789ab",
                events=["message.sent"],
                secret="whsec_x",
                optional={"description": "apimw listen (temporary)"},
                note=said.append,
            )
        except ValidationError as exc:
            result = exc
    return bodies, said, result


def refusal(code: str, message: str, status: int = 400) -> httpx.Response:
    return httpx.Response(
        status, json={"success": False, "error": {"code": code, "message": message}}
    )


WEBHOOK = httpx.Response(
    201,
    json={
        "success": True,
        "data": {"id": "whk_1", "url": "u", "events": ["message.sent"], "active": True},
    },
)


@pytest.mark.parametrize(
    "answer",
    [
        refusal("VALIDATION_ERROR", "Unknown field: description"),
        refusal("VALIDATION_ERROR", "The request body is invalid"),
        refusal("BAD_REQUEST", "description is not allowed"),
    ],
)
def test_a_refused_optional_field_is_dropped_once_and_said(answer: httpx.Response) -> None:
    bodies, said, result = created([answer, WEBHOOK])
    assert "description" in bodies[0] and "description" not in bodies[1] and len(bodies) == 2
    assert getattr(result, "id", None) == "whk_1"
    assert len(said) == 1 and "optional field(s) description" in said[0]


@pytest.mark.parametrize(
    "answer",
    [
        refusal("VALIDATION_ERROR", "url must use HTTPS"),  # about a documented field
        refusal("INVALID_EVENT", "unknown event type"),  # another 400, not naming it
        refusal("VALIDATION_ERROR", "description too long", status=422),  # not a 400
    ],
)
def test_other_refusals_are_not_retried(answer: httpx.Response) -> None:
    bodies, said, result = created([answer, WEBHOOK])
    assert len(bodies) == 1 and said == []
    assert isinstance(result, ValidationError)


def test_a_second_refusal_is_the_error() -> None:
    refused = refusal("VALIDATION_ERROR", "Unknown field: description")
    bodies, _said, result = created([refused, refusal("VALIDATION_ERROR", "still no")])
    assert len(bodies) == 2 and isinstance(result, ValidationError)


def test_an_api_dropping_the_field_silently_is_fine() -> None:
    bodies, said, result = created([WEBHOOK])
    assert len(bodies) == 1 and said == [] and getattr(result, "id", None) == "whk_1"


def test_records_dir_is_under_the_data_dir(tmp_path: Path) -> None:
    assert records.records_dir() == tmp_path / "data" / "listen-webhooks"
