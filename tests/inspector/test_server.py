"""The inspector's server (server.py): its port, its stop, its event stream over a live log, and
its silence (no logs on listen's terminal, no reading of the log while no page is open)."""

from __future__ import annotations

import itertools
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from apimw_cli.errors import ExitCode
from apimw_cli.inspector import server, stream
from apimw_cli.inspector.actions import Actions
from apimw_cli.inspector.logindex import LogIndex
from apimw_cli.inspector.server import InspectorPortBusy, RunningInspector
from tests.inspector.web_support import SECRET, SessionLog, source_for, sse_events
from tests.support.capture import CaptureServer, Reply
from tests.support.waiting import wait_for

PATIENCE = 15.0


def start(log: SessionLog, port: int | None = 0, **source: Any) -> RunningInspector:
    index = LogIndex(log.path)
    return server.start(
        index, Actions(index, source_for(log.path, **source)), {"title": "t"}, port=port
    )


@pytest.fixture
def running(log: SessionLog) -> Iterator[RunningInspector]:
    inspector = start(log)
    yield inspector
    inspector.stop()


def held_port() -> socket.socket:
    """A listening socket on a free loopback port (the port stays taken while it is open)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def test_it_serves_the_page_on_loopback(running: RunningInspector) -> None:
    assert running.url == f"http://127.0.0.1:{running.port}/"
    answer = httpx.get(running.url)
    assert answer.status_code == 200
    assert running.token in answer.text
    assert len(running.token) >= 40


def test_each_run_has_its_own_token(log: SessionLog) -> None:
    first, second = start(log), start(log)
    try:
        assert first.token != second.token
        assert first.port != second.port
    finally:
        first.stop()
        second.stop()


def test_the_default_port_is_4040_or_the_next_free_one(
    log: SessionLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As `listen` does it, on a range of our own (other tests may hold 4040 meanwhile)."""
    assert (server.DEFAULT_PORT, server.LAST_DEFAULT_PORT) == (4040, 4059)
    with held_port() as taken:
        first = taken.getsockname()[1]
        monkeypatch.setattr(server, "DEFAULT_PORT", first)
        monkeypatch.setattr(server, "LAST_DEFAULT_PORT", first + 5)
        inspector = start(log, port=None)
        try:
            # The next free one: the ports just above a free ephemeral one are all but always free.
            assert first < inspector.port <= first + 5
            assert httpx.get(inspector.url).status_code == 200
        finally:
            inspector.stop()


def test_with_every_default_port_taken_any_free_port_serves(
    log: SessionLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    with held_port() as taken:
        port = taken.getsockname()[1]
        monkeypatch.setattr(server, "DEFAULT_PORT", port)
        monkeypatch.setattr(server, "LAST_DEFAULT_PORT", port)
        inspector = start(log, port=None)
        try:
            assert inspector.port not in (port, 0)
            assert httpx.get(inspector.url).status_code == 200
        finally:
            inspector.stop()


def test_an_explicit_port_that_is_taken_is_an_error_with_a_hint(log: SessionLog) -> None:
    with held_port() as taken:
        port = taken.getsockname()[1]
        with pytest.raises(InspectorPortBusy) as caught:
            start(log, port=port)
    error = caught.value
    assert str(port) in error.message and "in use" in error.message
    assert error.hint is not None
    assert "--inspect-port" in error.hint and "0" in error.hint and "--no-inspect" in error.hint
    assert error.exit_code == ExitCode.ERROR  # as a busy receiver --port


def test_the_inspector_serves_on_loopback_only(log: SessionLog) -> None:
    index = LogIndex(log.path)
    with pytest.raises(ValueError, match="loopback"):
        server.start(index, Actions(index, source_for(log.path)), {}, host="0.0.0.0")


def _raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=PATIENCE) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_on_the_wire_a_foreign_or_missing_host_is_refused(running: RunningInspector) -> None:
    port = running.port
    evil = _raw(port, b"GET /api/info HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
    assert evil.startswith(b"HTTP/1.1 421 ")
    rebound = _raw(
        port,
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1.evil.example:%d\r\nConnection: close\r\n\r\n" % port,
    )
    assert rebound.startswith(b"HTTP/1.1 421 ")
    missing = _raw(port, b"GET /api/info HTTP/1.0\r\n\r\n")
    assert missing.split(b" ")[1] == b"421"
    assert b"can_replay" not in missing
    own = _raw(
        port, b"GET /api/info HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n" % port
    )
    assert own.startswith(b"HTTP/1.1 200 ")


def _stream(running: RunningInspector, query: str = "", **headers: str) -> Any:
    return httpx.stream(
        "GET", running.url + "api/stream" + query, headers=headers, timeout=PATIENCE
    )


def _next_event(events: Iterator[tuple[str, Any, str]], name: str) -> tuple[Any, str]:
    for kind, data, event_id in events:
        if kind == name:
            return data, event_id
    raise AssertionError(f"the stream ended before a {name!r} event")


def test_the_stream_sends_new_rows_and_forward_outcomes(
    running: RunningInspector, log: SessionLog
) -> None:
    old = log.event()
    with _stream(running) as answer:
        assert answer.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert answer.headers["cache-control"] == "no-store"
        events = sse_events(answer.iter_lines())
        first = log.event()
        second = log.event()
        seen: list[str] = []
        while len(seen) < 2:
            data, _ = _next_event(events, "rows")
            seen += [row["id"] for row in data["rows"]]
        assert set(seen) == {first, second} and old not in seen
        log.forward(first, 503)
        data, event_id = _next_event(events, "forwards")
        (update,) = data["updates"]
        assert update["id"] == first and update["forwards"][0]["status"] == 503
        assert stream.parse_cursor(event_id) is not None


def test_a_stream_starts_at_the_pages_cursor_or_resumes_at_last_event_id(
    running: RunningInspector, log: SessionLog
) -> None:
    first = log.event()
    cursor = httpx.get(running.url + "api/events").json()["cursor"]
    second = log.event()  # after the page loaded the list, before its stream began
    with _stream(running, f"?after={cursor['seq']}&forwards={cursor['forwards']}") as answer:
        data, event_id = _next_event(sse_events(answer.iter_lines()), "rows")
    assert [row["id"] for row in data["rows"]] == [second]
    third = log.event()
    with _stream(running, **{"Last-Event-ID": event_id}) as answer:
        data, _ = _next_event(sse_events(answer.iter_lines()), "rows")
    assert [row["id"] for row in data["rows"]] == [third]
    assert first not in {row["id"] for row in data["rows"]}


def test_a_burst_comes_as_the_newest_rows_and_how_many_were_skipped(
    running: RunningInspector, log: SessionLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    cursor = httpx.get(running.url + "api/events").json()["cursor"]
    ids = [log.event() for _ in range(stream.ROWS_PER_EVENT + 30)]
    query = f"?after={cursor['seq']}&forwards={cursor['forwards']}"
    with _stream(running, query) as answer:
        data, _ = _next_event(sse_events(answer.iter_lines()), "rows")
    assert [row["id"] for row in data["rows"]] == ids[::-1][: stream.ROWS_PER_EVENT]
    assert data["skipped"] == 30


def test_a_flood_slows_the_stream_and_a_calm_log_speeds_it_up_again(
    running: RunningInspector, log: SessionLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the log grows faster than a message holds (rows skipped), the stream looks at it
    every FLOOD_TICK, not every TICK: the receiver keeps its time. Once the log is calm again
    a new event comes within a TICK or so."""
    monkeypatch.setattr(stream, "TICK", 0.05)
    monkeypatch.setattr(stream, "FLOOD_TICK", 0.6)
    monkeypatch.setattr(stream, "REFRESH_EVERY", 0.0)
    pouring = threading.Event()
    pouring.set()

    def pour() -> None:  # more than a message holds, every 50 ms, while `pouring`
        while pouring.is_set():
            for _ in range(stream.ROWS_PER_EVENT + 20):
                log.event()
            time.sleep(0.05)

    with _stream(running) as answer:
        events = sse_events(answer.iter_lines())
        pourer = threading.Thread(target=pour, daemon=True)
        pourer.start()
        try:
            arrivals: list[float] = []
            while len(arrivals) < 4:
                data, _ = _next_event(events, "rows")
                if data["skipped"]:
                    arrivals.append(time.monotonic())
        finally:
            pouring.clear()
            pourer.join(10)
        gaps = [b - a for a, b in itertools.pairwise(arrivals)]
        assert min(gaps) > 0.4, gaps  # FLOOD_TICK apart, not TICK
        time.sleep(2.0)  # the last flood ticks pass; the next look finds the log calm
        sent = time.monotonic()
        newest = log.event()
        while True:  # what the flood left, if anything, comes first
            data, _ = _next_event(events, "rows")
            if newest in {row["id"] for row in data["rows"]}:
                break
        assert time.monotonic() - sent < 0.45  # a TICK (and a refresh), not a FLOOD_TICK


def test_catching_up_after_a_flood_looks_every_tick(
    log: SessionLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows still skipped while the index reads what a flood left (the log no longer grows)
    are not a flood: the stream looks every TICK, and the page catches up at that pace."""
    from apimw_cli.inspector import logstore

    monkeypatch.setattr(stream, "TICK", 0.05)
    monkeypatch.setattr(stream, "FLOOD_TICK", 2.0)
    monkeypatch.setattr(stream, "REFRESH_EVERY", 0.0)
    monkeypatch.setattr(stream, "REFRESH_BUDGET", 0.0)  # a live log: a few lines a look
    monkeypatch.setattr(logstore, "QUIET_BUDGET", 0.0)  # and as few once it is calm
    monkeypatch.setattr(logstore, "BUDGET_LINES", 150)  # (checked every 150 lines)
    for _ in range(2000):  # written before the stream began: the index has read none of it
        log.event()
    index = LogIndex(log.path, live=True)
    running = server.start(index, Actions(index, source_for(log.path)), {"title": "t"}, port=0)
    try:
        with _stream(running, "?after=0&forwards=0") as answer:
            events = sse_events(answer.iter_lines())
            started = time.monotonic()
            skipped_looks = 0
            while skipped_looks < 8:
                data, _ = _next_event(events, "rows")
                skipped_looks += bool(data["skipped"])
            assert time.monotonic() - started < 2.0  # 8 looks within one FLOOD_TICK
    finally:
        running.stop()


def test_a_quiet_stream_sends_a_heartbeat(
    running: RunningInspector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream, "HEARTBEAT", 0.2)
    with _stream(running) as answer:
        kinds = (kind for kind, _, _ in sse_events(answer.iter_lines()))
        assert "comment" in (next(kinds), next(kinds))


def test_the_stream_never_carries_the_secret(running: RunningInspector, log: SessionLog) -> None:
    with _stream(running) as answer:
        lines = answer.iter_lines()
        record_id = log.event(signed_with="whsec_wrong")
        log.forward(record_id, 500)
        text = []
        for line in lines:
            text.append(line)
            if line.startswith("event: forwards"):
                break
    assert record_id in "\n".join(text)
    assert SECRET not in "\n".join(text)


def test_stop_ends_a_connected_stream_and_never_hangs(log: SessionLog) -> None:
    inspector = start(log)
    ended = threading.Event()

    def read() -> None:
        with _stream(inspector) as answer:
            for _ in answer.iter_lines():
                pass
        ended.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    wait_for(lambda: inspector.open_streams == 1, PATIENCE, "the stream to open")
    stopper = threading.Thread(target=inspector.stop, daemon=True)
    stopper.start()
    stopper.join(PATIENCE)
    assert not stopper.is_alive(), "stop() hung with a page connected"
    assert ended.wait(PATIENCE), "the page's stream did not end"
    assert not inspector._thread.is_alive()
    inspector.stop()  # again: nothing to do


def test_stop_does_not_wait_for_a_replay_in_flight(log: SessionLog) -> None:
    release = threading.Event()

    def hold(_request: Any) -> Reply:
        release.wait(PATIENCE)
        return Reply(200)

    with CaptureServer(hold) as app:
        inspector = start(log, target=app.url)
        record_id = log.event()
        outcome: list[Any] = []

        def replay() -> None:
            try:
                outcome.append(
                    httpx.post(
                        f"{inspector.url}api/events/{record_id}/replay",
                        json={"mode": "verbatim"},
                        headers={"X-APIMW-Inspector-Token": inspector.token},
                        timeout=PATIENCE,
                    ).status_code
                )
            except httpx.HTTPError as error:
                outcome.append(error)

        sender = threading.Thread(target=replay, daemon=True)
        sender.start()
        app.wait_requests(1)
        stopper = threading.Thread(target=inspector.stop, daemon=True)
        stopper.start()
        stopper.join(PATIENCE)
        assert not stopper.is_alive(), "stop() waited for the app's answer"
        release.set()
        sender.join(PATIENCE)


class CountingIndex(LogIndex):
    """The real index, counting its refreshes."""

    refreshes = 0

    def refresh(self, budget: float | None = None) -> int:
        self.refreshes += 1
        return super().refresh(budget)


def test_no_page_open_costs_nothing(log: SessionLog) -> None:
    index = CountingIndex(log.path)
    inspector = server.start(index, Actions(index, source_for(log.path)), {}, port=0)
    try:
        for _ in range(20):
            log.event()
        threading.Event().wait(4 * stream.TICK)
        assert index.refreshes == 0  # nothing reads the log while no page is open
        with _stream(inspector) as answer:
            events = sse_events(answer.iter_lines())
            log.event()
            _next_event(events, "rows")
        assert index.refreshes > 0
        wait_for(lambda: inspector.open_streams == 0, PATIENCE, "the stream to close")
        after = index.refreshes
        threading.Event().wait(4 * stream.TICK)
        assert index.refreshes == after  # the page left: no more reading
    finally:
        inspector.stop()


def test_too_many_streams_are_refused(
    running: RunningInspector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream, "MAX_STREAMS", 1)
    with _stream(running) as first:
        lines = first.iter_lines()  # kept: a dropped iterator closes the response
        next(lines)
        with _stream(running) as second:
            assert second.status_code == 503


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_nothing_is_logged_to_the_terminal(log: SessionLog) -> None:
    """uvicorn's complaints about a bad request, a client gone mid-stream, the start and the
    stop: none reaches a handler (the terminal belongs to listen's live view)."""
    handler = Records()
    root = logging.getLogger()
    root.addHandler(handler)
    levels = {name: logging.getLogger(name).level for name in ("uvicorn.error", "asyncio")}
    for name in levels:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        inspector = start(log)
        _raw(inspector.port, b"NOT HTTP AT ALL\r\n\r\n")
        with _stream(inspector) as answer:
            lines = answer.iter_lines()
            next(lines)
        httpx.get(inspector.url + "api/events/nope")
        inspector.stop()
    finally:
        root.removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
    assert [
        r.getMessage() for r in handler.records if r.name.startswith(("uvicorn", "asyncio"))
    ] == []


class HeldSearchIndex(LogIndex):
    """The real index, whose body searches wait until the test lets them go."""

    searching = threading.Event()
    release = threading.Event()

    def rows(self, **kwargs: Any) -> list[dict[str, Any]]:
        filters = kwargs.get("filters")
        if filters is not None and filters.q:
            self.searching.set()
            self.release.wait(PATIENCE)
        return super().rows(**kwargs)


def test_a_long_search_does_not_stop_the_server_answering(log: SessionLog) -> None:
    index = HeldSearchIndex(log.path)
    inspector = server.start(index, Actions(index, source_for(log.path)), {}, port=0)
    try:
        record_id = log.event()
        found: list[Any] = []
        searcher = threading.Thread(
            target=lambda: found.append(
                httpx.get(inspector.url + "api/events?q=message", timeout=PATIENCE).json()
            ),
            daemon=True,
        )
        searcher.start()
        assert index.searching.wait(PATIENCE)
        assert httpx.get(inspector.url + "api/info", timeout=PATIENCE).status_code == 200
        assert httpx.get(inspector.url + "app.js", timeout=PATIENCE).status_code == 200
        assert not found  # still searching
        index.release.set()
        searcher.join(PATIENCE)
        assert [row["id"] for row in found[0]["rows"]] == [record_id]
    finally:
        index.release.set()
        inspector.stop()


def test_many_forward_outcomes_come_in_bounded_batches(
    running: RunningInspector, log: SessionLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream, "UPDATES_PER_EVENT", 2)
    monkeypatch.setattr(stream, "MAX_UPDATES_PER_TICK", 5)
    ids = [log.event() for _ in range(7)]
    cursor = httpx.get(running.url + "api/events").json()["cursor"]
    for record_id in ids:
        log.forward(record_id, 200)
    query = f"?after={cursor['seq']}&forwards={cursor['forwards']}"
    with _stream(running, query) as answer:
        events = sse_events(answer.iter_lines())
        batches = [_next_event(events, "forwards")[0] for _ in range(3)]
    assert [len(batch["updates"]) for batch in batches] == [2, 2, 1]
    assert batches[0]["skipped"] == 2  # the oldest two: the page reloads its list
    assert [u["id"] for b in batches for u in b["updates"]] == ids[2:]


def test_a_page_from_an_earlier_run_is_told_to_reload(
    running: RunningInspector, log: SessionLog
) -> None:
    """listen ran again on the same port: the page's EventSource reconnects with a cursor past
    anything this run has (and its token is stale)."""
    log.event()
    with _stream(running, **{"Last-Event-ID": "500.20"}) as answer:
        data, event_id = _next_event(sse_events(answer.iter_lines()), "reload")
    assert data == {}
    assert stream.parse_cursor(event_id) == (1, 0)
    with _stream(running, **{"Last-Event-ID": "1.0"}) as answer:
        lines = answer.iter_lines()
        record_id = log.event()
        kinds: list[str] = []
        rows: list[dict[str, Any]] = []
        for kind, payload, _ in sse_events(lines):
            kinds.append(kind)
            if kind == "rows" and payload is not None:
                rows = payload["rows"]
                break
    assert "reload" not in kinds  # a cursor of this run: no reload
    assert [row["id"] for row in rows] == [record_id]


def test_the_server_does_not_tick_while_nothing_happens(
    log: SessionLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """uvicorn's main loop wakes ten times a second; the inspector's sleeps until stopped."""
    ticks: list[int] = []
    tick = server._Server.on_tick

    async def counted(self: server._Server, counter: int) -> bool:
        ticks.append(counter)
        return await tick(self, counter)

    monkeypatch.setattr(server._Server, "on_tick", counted)
    inspector = start(log)
    try:
        threading.Event().wait(0.5)  # five of uvicorn's ticks
        assert len(ticks) == 1  # the first, which sets the default headers
        assert httpx.get(inspector.url + "api/info").status_code == 200
    finally:
        inspector.stop()
    assert not inspector._thread.is_alive()


def test_a_failed_start_leaves_the_port_free(
    log: SessionLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    with held_port() as probe:
        port = probe.getsockname()[1]

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("no page")

    monkeypatch.setattr(server, "build_app", broken)
    with pytest.raises(RuntimeError, match="no page"):
        start(log, port=port)
    with socket.socket() as again:
        again.bind(("127.0.0.1", port))  # not held by the failed start
