"""A webhook endpoint: a capture server that answers APIMW's verification challenge (or fails
it on purpose) and tells verification requests from deliveries."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from tests.support.capture import Captured, CaptureServer, Reply
from tests.support.waiting import wait_for

ChallengeMode = Literal["text", "json", "wrong", "like_delivery"]


@dataclass
class Behaviour:
    """How an Endpoint answers. `handler` wins when it returns a Reply; then the challenge rule
    (for webhook.verification requests); then status/delay/body for everything else."""

    status: int = 200
    delay: float = 0.0
    body: bytes = b"ok"
    challenge: ChallengeMode = "text"
    handler: Callable[[Captured], Reply | None] | None = None

    def reply(self, request: Captured) -> Reply:
        if self.handler is not None:
            custom = self.handler(request)
            if custom is not None:
                return custom
        if request.is_verification and self.challenge != "like_delivery":
            challenge = str(request.json().get("challenge", ""))
            if self.challenge == "text":
                return Reply(200, challenge.encode())
            if self.challenge == "json":
                body = json.dumps({"challenge": challenge}).encode()
                return Reply(200, body, "application/json")
            return Reply(200, b"not-the-challenge")
        return Reply(self.status, self.body, delay=self.delay)


class Endpoint(CaptureServer):
    """A webhook endpoint (a capture server) that answers per `behaviour`."""

    def __init__(
        self, behaviour: Behaviour | None = None, path: str = "/hook", *, unique_path: bool = False
    ) -> None:
        self.behaviour = behaviour or Behaviour()
        super().__init__(self.behaviour.reply, path=path, unique_path=unique_path)

    def mine(self) -> list[Captured]:
        """The requests for this endpoint's path (with `unique_path`, a sandbox that outlives a
        test may still deliver to an older endpoint's path on the same port)."""
        return [r for r in self.requests if r.path.startswith(self.path)]

    def verifications(self) -> list[Captured]:
        return [r for r in self.mine() if r.is_verification]

    def deliveries(self) -> list[Captured]:
        return [r for r in self.mine() if not r.is_verification]

    def wait_deliveries(self, count: int, timeout: float = 10.0) -> list[Captured]:
        """Wait until at least `count` (non-verification) requests arrived; return them all."""
        return wait_for(
            lambda: found if len(found := self.deliveries()) >= count else None,
            timeout,
            lambda: f"{count} deliveries at {self.url} (got {len(self.deliveries())})",
        )

    def wait_verifications(self, count: int = 1, timeout: float = 10.0) -> list[Captured]:
        return wait_for(
            lambda: found if len(found := self.verifications()) >= count else None,
            timeout,
            f"{count} verification requests at {self.url}",
        )
