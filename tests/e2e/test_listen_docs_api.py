"""`apimw listen --tunnel` against the fake APIMW that answers only as the docs show
(tests/support/docs_api.py), lenient and strict: its temporary webhook is registered at a URL
carrying the session's marker and recorded locally, and stale pruning reads every page and
judges by the marker, the local record and the URL, never by an undocumented field."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from apimw_cli.session import records
from apimw_cli.settings import ENV_NGROK_PATH
from tests.e2e.listen_process import stop
from tests.fake_ngrok import kill_all, make_fake_agent
from tests.support.docs_api import API_KEY, API_SECRET, SEEDED, DocsApi, docs_time
from tests.support.waiting import wait_for_file

HOST = socket.gethostname()


@pytest.fixture
def agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = make_fake_agent(tmp_path)
    monkeypatch.setenv(ENV_NGROK_PATH, str(path))
    monkeypatch.setenv("NGROK_AUTHTOKEN", "2fakeAuthtoken0123456789abcdefghijklmnop")
    yield path
    kill_all(path)


@pytest.fixture(params=[False, True], ids=["lenient", "strict"])
def docs(request: pytest.FixtureRequest) -> DocsApi:
    return DocsApi(strict=request.param)


@pytest.fixture
def api_base(docs: DocsApi, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with docs.serve() as base:
        monkeypatch.setenv("APIMW_API_BASE", base)
        monkeypatch.setenv("APIMW_API_KEY", API_KEY)
        monkeypatch.setenv("APIMW_API_SECRET", API_SECRET)
        yield base


def start(
    tmp_path: Path, *root: str, listen: tuple[str, ...] = ()
) -> tuple[subprocess.Popen[str], str]:
    ready = tmp_path / "listen.ready"
    command = [sys.executable, "-m", "apimw_cli", *root, "listen", "--port", "0", "--tunnel",
               "--format", "ndjson", "--ready-file", str(ready), *listen]  # fmt: skip
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONFAULTHANDLER": "1"},
    )
    return proc, wait_for_file(ready, proc, 30, "listen to be ready")


def notes(out: str) -> list[str]:
    return [r["message"] for r in map(json.loads, out.splitlines()) if r["record"] == "note"]


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def marked(session: str, base: str = "http://127.0.0.1:9") -> str:
    return f"{base}/webhooks/{records.MARKER_PREFIX}{session}"


def hook(url: str, webhook_id: str) -> dict[str, Any]:
    return {
        "id": webhook_id,
        "url": url,
        "events": ["message.sent"],
        "active": True,
        "created_at": docs_time(),
    }


def test_registration_is_marked_recorded_and_cleaned_up(
    docs: DocsApi, api_base: str, agent: Path, tmp_path: Path
) -> None:
    proc, public = start(tmp_path, "--debug")
    registered = docs.webhooks[-1]
    session = records.session_of(registered["url"])
    assert session is not None and registered["url"] == public
    assert public.endswith(f"/webhooks/apimw-listen-{session}")
    bodies = docs.bodies("POST", "webhooks")
    assert set(bodies[-1]) <= {"url", "events", "secret", "active", "description"}
    assert len(bodies) == (2 if docs.strict else 1)  # strict: again, without the description
    if docs.strict:
        assert "description" in bodies[0] and "description" not in bodies[1]
    path = records.records_dir() / f"{session}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    record = json.loads(path.read_text())
    assert record["webhook_id"] == registered["id"] and record["url"] == public
    assert (record["api_base"], record["profile"]) == (api_base, "default")
    assert (record["pid"], record["host"]) == (proc.pid, HOST)
    # Only the marked path is served.
    other = httpx.post(public.rsplit("/", 1)[0], json={"type": "message.sent"})
    assert other.status_code == 404
    out, err = stop(proc)
    assert proc.returncode == 0, err
    assert registered not in docs.webhooks and len(docs.webhooks) == SEEDED
    assert not path.exists()
    said = "refused the optional field(s) description"
    assert (said in out + err) is docs.strict


def test_a_given_path_gets_the_marker_appended(
    docs: DocsApi, api_base: str, agent: Path, tmp_path: Path
) -> None:
    proc, public = start(tmp_path, listen=("--path", "/hooks/in"))
    try:
        registered = docs.webhooks[-1]["url"]
        session = records.session_of(registered)
        mine = httpx.post(public, json={"type": "message.sent"})
        unmarked = httpx.post(public.rsplit("/", 1)[0], json={"type": "message.sent"})
    finally:
        stop(proc)
    assert registered == public and public.endswith(f"/hooks/in/apimw-listen-{session}")
    assert mine.status_code != 404 and unmarked.status_code == 404


def test_stale_pruning_reads_every_page_and_judges_by_record_and_url(
    docs: DocsApi, api_base: str, agent: Path, tmp_path: Path
) -> None:
    gone, alive_pid, me = dead_pid(), os.getpid(), ("default", HOST)
    answering_base = api_base.removesuffix("/v1")  # any answer under 500: someone is there
    docs.webhooks += [
        hook(marked("aaaaaaaaaaaa"), "whk_dead_owner"),
        hook(marked("bbbbbbbbbbbb"), "whk_live_owner"),
        hook(marked("cccccccccccc"), "whk_no_record_dead_url"),
        hook(marked("dddddddddddd", answering_base), "whk_no_record_live_url"),
        hook(marked("eeeeeeeeeeee"), "whk_other_host_dead_url"),
        hook("https://yourapp.com/webhooks/apimw", "whk_users_own"),
    ]
    saved = [
        ("aaaaaaaaaaaa", "whk_dead_owner", api_base, gone, HOST),
        ("bbbbbbbbbbbb", "whk_live_owner", api_base, alive_pid, HOST),
        ("eeeeeeeeeeee", "whk_other_host_dead_url", api_base, 1, "elsewhere"),
        ("ffffffffffff", "whk_gone_dead_owner", api_base, gone, HOST),
        ("111111111111", "whk_gone_live_owner", api_base, alive_pid, HOST),
        ("222222222222", "whk_other_api", "https://api.example/v1", gone, HOST),
        ("333333333333", "whk_other_api_old", "https://api.example/v1", gone, HOST),
    ]
    for session, webhook_id, base, pid, host in saved:
        started = "2000-01-01T00:00:00Z" if session == "333333333333" else docs_time()
        records.save(
            records.Record(session, webhook_id, marked(session), base, me[0], pid, host, started)
        )
    proc, public = start(tmp_path)
    try:
        ids = [w["id"] for w in docs.webhooks]
        kept = {r.session for r in records.load_all()}
    finally:
        out, err = stop(proc)
    assert proc.returncode == 0, err
    assert ids[:SEEDED] == [f"whk_docs{n:03d}xyz" for n in range(SEEDED)]  # untouched
    assert ids[SEEDED:-1] == ["whk_live_owner", "whk_no_record_live_url", "whk_users_own"]
    assert records.session_of(public) in kept
    assert kept - {records.session_of(public)} == {"bbbbbbbbbbbb", "111111111111", "222222222222"}
    removed = [n for n in notes(out) if n.startswith("removed stale temporary webhook")]
    assert len(removed) == 3
    assert [r.method for r in docs.requests if r.url.path.startswith("/v1/webhooks/")] == [
        "DELETE"
    ] * 4  # three stale ones, then the session's own at exit
