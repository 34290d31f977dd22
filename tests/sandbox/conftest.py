"""Fixtures for the sandbox end-to-end tests: sandboxes on port 0, API clients, receivers.

Only the runner API of apimw_cli/sandbox/SPEC.md is used; everything else goes over HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest

from apimw_cli.sandbox.server import SandboxConfig, run_in_thread
from tests.sandbox.support import (
    Behaviour,
    MakeApi,
    MakeReceiver,
    MakeSandbox,
    Receiver,
    RunningSandboxLike,
    client,
    token_pair,
)

# Fast by default: retries 60 s -> 17 ms ... 7200 s -> 2 s, no rate limit, nothing on disk.
DEFAULTS: dict[str, Any] = {
    "host": "127.0.0.1",
    "port": 0,
    "ephemeral": True,
    "time_scale": 3600.0,
    "rate_limit": 0,
}


@pytest.fixture
def make_sandbox() -> Iterator[MakeSandbox]:
    """Start a sandbox with DEFAULTS overridden by keyword arguments; all stop at teardown.

    With `data_dir=...` the sandbox is not ephemeral unless asked for.
    """
    with ExitStack() as stack:

        def make(**overrides: Any) -> RunningSandboxLike:
            options = dict(DEFAULTS)
            if "data_dir" in overrides:
                options["ephemeral"] = False
            options.update(overrides)
            running: RunningSandboxLike = stack.enter_context(
                run_in_thread(SandboxConfig(**options))
            )
            return running

        yield make


@pytest.fixture
def sandbox(make_sandbox: MakeSandbox) -> RunningSandboxLike:
    """A fresh sandbox with DEFAULTS. A module whose tests leave no state that others look at
    may override this fixture with `shared_sandbox`, which saves a start and stop per test."""
    return make_sandbox()


@pytest.fixture(scope="module")
def shared_sandbox() -> Iterator[RunningSandboxLike]:
    """One sandbox with DEFAULTS for a whole test module."""
    with run_in_thread(SandboxConfig(**DEFAULTS)) as running:
        yield running


@pytest.fixture
def make_api() -> Iterator[MakeApi]:
    """An httpx.Client on a sandbox's base URL with a fresh bearer token; closed at teardown."""
    with ExitStack() as stack:

        def make(running: RunningSandboxLike) -> httpx.Client:
            token = token_pair(running.base_url)["access_token"]
            return stack.enter_context(client(running.base_url, token))

        yield make


@pytest.fixture
def api(sandbox: RunningSandboxLike, make_api: MakeApi) -> httpx.Client:
    return make_api(sandbox)


@pytest.fixture
def anon(sandbox: RunningSandboxLike) -> Iterator[httpx.Client]:
    """A client on the sandbox without any Authorization header."""
    with client(sandbox.base_url) as anonymous:
        yield anonymous


@pytest.fixture
def receiver() -> Iterator[MakeReceiver]:
    """receiver(behaviour=None, path="/hook") -> a started Receiver; all shut down at teardown."""
    started: list[Receiver] = []

    def make(behaviour: Behaviour | None = None, path: str = "/hook") -> Receiver:
        one = Receiver(behaviour, path)
        started.append(one)
        return one

    try:
        yield make
    finally:
        for one in started:
            one.close()
