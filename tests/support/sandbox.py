"""Sandbox and endpoint fixtures, one meaning per name across the suite:

- `make_sandbox(**overrides)`: start sandboxes in threads (port 0, fast retries, in memory).
- `running_sandbox`: a fresh sandbox in a thread, serving on a port; `apimw --sandbox` reaches it.
- `module_sandbox`: one such sandbox for a whole test module (module scope).
- `shared_sandbox`: `module_sandbox` with `apimw --sandbox` pointed at it, for tests that look
  only at what they made themselves.
- `make_endpoint(behaviour)` / `endpoint`: webhook endpoints (capture servers) on loopback.

A sandbox as a subprocess (`apimw sandbox`) is `sandbox_process`, where a module needs one.
Everything started here is stopped at teardown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from apimw_cli.sandbox.server import RunningSandbox, SandboxConfig, run_in_thread
from apimw_cli.settings import ENV_SANDBOX_URL
from tests.support.endpoint import Endpoint

# Fast by default: retries 60 s -> 17 ms ... 7200 s -> 2 s, no rate limit, nothing on disk.
DEFAULTS: dict[str, Any] = {
    "host": "127.0.0.1",
    "port": 0,
    "ephemeral": True,
    "time_scale": 3600.0,
    "rate_limit": 0,
}

MakeSandbox = Callable[..., RunningSandbox]
MakeEndpoint = Callable[..., Endpoint]


@pytest.fixture
def make_sandbox() -> Iterator[MakeSandbox]:
    """Start a sandbox with DEFAULTS overridden by keyword arguments; all stop at teardown.

    With `data_dir=...` the sandbox is not ephemeral unless asked for.
    """
    with ExitStack() as stack:

        def make(**overrides: Any) -> RunningSandbox:
            options = dict(DEFAULTS)
            if "data_dir" in overrides:
                options["ephemeral"] = False
            options.update(overrides)
            return stack.enter_context(run_in_thread(SandboxConfig(**options)))

        yield make


@pytest.fixture
def running_sandbox(make_sandbox: MakeSandbox, monkeypatch: pytest.MonkeyPatch) -> RunningSandbox:
    """A fresh sandbox with DEFAULTS; `apimw --sandbox ...` talks to it. A module whose tests
    leave no state that others look at may override this with `shared_sandbox`."""
    running = make_sandbox()
    monkeypatch.setenv(ENV_SANDBOX_URL, running.base_url)
    return running


@pytest.fixture(scope="module")
def module_sandbox() -> Iterator[RunningSandbox]:
    """One sandbox with DEFAULTS for a whole test module."""
    with run_in_thread(SandboxConfig(**DEFAULTS)) as running:
        yield running


@pytest.fixture
def shared_sandbox(
    module_sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> RunningSandbox:
    """The module's sandbox, with `apimw --sandbox ...` pointed at it (a start and stop per test
    would double the runtime of modules with many tests)."""
    monkeypatch.setenv(ENV_SANDBOX_URL, module_sandbox.base_url)
    return module_sandbox


@pytest.fixture
def make_endpoint() -> Iterator[MakeEndpoint]:
    """make_endpoint(behaviour=None, path="/hook", unique_path=False) -> a started Endpoint."""
    with ExitStack() as stack:

        def make(*args: Any, **kwargs: Any) -> Endpoint:
            return stack.enter_context(Endpoint(*args, **kwargs))

        yield make


@pytest.fixture
def endpoint(make_endpoint: MakeEndpoint) -> Endpoint:
    """A webhook endpoint that echoes the challenge and answers 200 (its own path)."""
    return make_endpoint(unique_path=True)
