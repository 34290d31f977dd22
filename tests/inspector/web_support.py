"""What the inspector's web tests share: a session log written the way `listen` writes it (the
real Recorder), the app over it (the real LogIndex and Actions) behind starlette's TestClient,
and an SSE reader for the running server."""

from __future__ import annotations

import itertools
import json
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

with warnings.catch_warnings():
    # starlette's testclient names an anyio alias that this anyio deprecates (at import only).
    warnings.simplefilter("ignore", DeprecationWarning)
    from starlette.testclient import TestClient

from apimw_cli.inspector.actions import Actions, Source
from apimw_cli.inspector.logindex import LogIndex
from apimw_cli.inspector.security import TOKEN_HEADER, allowed_hosts
from apimw_cli.inspector.web import build_app
from apimw_cli.models import Forwarded, Received
from apimw_cli.protocol import DELIVERY_HEADER, SIGNATURE_HEADER
from apimw_cli.receiver.recorder import Recorder
from apimw_cli.signing import sign, verify

__all__ = [
    "BASE",
    "PORT",
    "SECRET",
    "TOKEN",
    "Built",
    "Inspector",
    "SessionLog",
    "TestClient",
    "build",
    "event_body",
    "inspector_over",
    "source_for",
    "sse_events",
]

# Distinctive, so a test can look for it in every answer: it must never be in one.
SECRET = "whsec_H2nEVERsHOWNzq81kx5Lp0"
PORT = 4040
BASE = f"http://127.0.0.1:{PORT}"
TOKEN = "test-token-Ot3kq9Zx0aPfW2"

_ids = itertools.count(1)


def event_body(event_type: str = "message.sent", n: int = 0, **data: Any) -> bytes:
    payload = {"type": event_type, "data": {"message_id": f"wamid.{n}", **data}}
    return json.dumps(payload, separators=(",", ":")).encode()


@dataclass
class SessionLog:
    """A session log, written through the receiver's own Recorder."""

    path: Path
    recorder: Recorder = field(init=False)

    def __post_init__(self) -> None:
        self.recorder = Recorder(self.path)

    def event(
        self,
        body: bytes | None = None,
        *,
        event_type: str = "message.sent",
        delivery: str | None = None,
        secret: str | None = SECRET,
        signed_with: str | None = SECRET,
        headers: dict[str, str] | None = None,
        status: int = 200,
        duplicate: bool = False,
    ) -> str:
        """Append a request line for one event; returns its record id."""
        n = next(_ids)
        record_id = f"rec_{n:06d}{int(time.time() * 1000) % 100000:05d}"
        body = event_body(event_type, n) if body is None else body
        delivery = delivery or f"dlv_{n:010d}"
        sent = {"content-type": "application/json", DELIVERY_HEADER.lower(): delivery}
        if signed_with is not None:
            sent[SIGNATURE_HEADER.lower()] = sign(body, signed_with)
        sent.update(headers or {})
        verdict = (
            None if secret is None else verify(body, sent.get(SIGNATURE_HEADER.lower()), secret)
        )
        self.recorder.write_request(
            Received(
                record_id=record_id,
                received_at=time.time(),
                method="POST",
                path="/hook",
                headers=sent,
                body=body,
                status=status if verdict is None or verdict.valid else 401,
                kind="event" if verdict is None or verdict.valid else "invalid",
                event_type=event_type,
                delivery_id=delivery,
                verdict=verdict,
                duplicate=duplicate,
            )
        )
        return record_id

    def forward(
        self, record_id: str, status: int | None = 200, *, error: str | None = None
    ) -> None:
        self.recorder.write_forward(
            Forwarded(
                record_id=record_id,
                target="http://127.0.0.1:9/app",
                status=status,
                ms=4.5,
                error=error,
                response_body=b'{"handled":true}',
                response_headers=(("Content-Type", "application/json"), ("X-App", "yes")),
            )
        )

    def raw(self, data: bytes) -> None:
        """Append bytes as they are (hostile lines, torn lines)."""
        with self.path.open("ab") as file:
            file.write(data)

    def close(self) -> None:
        self.recorder.close()


@dataclass
class Inspector:
    """The app over a session log, and a client that speaks to it as the page does."""

    client: TestClient
    log: SessionLog
    index: LogIndex
    source: Source

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(path, **kwargs)

    def action_headers(self, **extra: str) -> dict[str, str]:
        return {TOKEN_HEADER: TOKEN, **extra}

    def replay(self, record_id: str, mode: str = "verbatim", **headers: str) -> httpx.Response:
        return self.client.post(
            f"/api/events/{record_id}/replay",
            json={"mode": mode},
            headers=self.action_headers(**headers),
        )

    def curl(self, record_id: str, mode: str | None = None) -> httpx.Response:
        query = "" if mode is None else f"?mode={mode}"
        return self.client.get(
            f"/api/events/{record_id}/curl{query}", headers=self.action_headers()
        )

    def rows(self, query: str = "") -> list[dict[str, Any]]:
        answer = self.get(f"/api/events{query}")
        assert answer.status_code == 200, answer.text
        rows: list[dict[str, Any]] = answer.json()["rows"]
        return rows


def source_for(
    path: Path,
    *,
    target: str | None = None,
    secret: str | None = SECRET,
    live: bool = True,
    receive_url: str | None = "http://127.0.0.1:4242/hook",
) -> Source:
    return Source(
        log=path, live=live, target=target, receive_url=receive_url, secret=secret, timeout=5.0
    )


@dataclass
class Built:
    app: Any
    index: LogIndex
    source: Source


def build(path: Path, info: dict[str, Any] | None = None, port: int = PORT, **source: Any) -> Built:
    index = LogIndex(path)
    src = source_for(path, **source)
    app = build_app(
        index,
        Actions(index, src),
        token=TOKEN,
        allowed_hosts=allowed_hosts(port),
        info={"title": "test session"} if info is None else info,
    )
    return Built(app, index, src)


def inspector_over(log: SessionLog, **source: Any) -> Iterator[Inspector]:
    built = build(log.path, **source)
    try:
        with TestClient(built.app, base_url=BASE) as client:
            yield Inspector(client, log, built.index, built.source)
    finally:
        built.app.state.worker.close()  # as server.stop does: no thread left behind


def sse_events(lines: Iterator[str]) -> Iterator[tuple[str, dict[str, Any] | None, str]]:
    """(event name, data as JSON, id) for each event of an SSE stream; comments as
    ("comment", None, text)."""
    name, data, event_id = "message", "", ""
    for line in lines:
        if line.startswith(":"):
            yield "comment", None, line[1:].strip()
        elif line == "":
            if data:
                yield name, json.loads(data), event_id
            name, data = "message", ""
        else:
            key, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if key == "event":
                name = value
            elif key == "data":
                data += value
            elif key == "id":
                event_id = value
