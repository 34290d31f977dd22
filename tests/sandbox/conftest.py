"""Fixtures for the sandbox end-to-end tests: API clients on a running sandbox.

Sandboxes (`make_sandbox`, `running_sandbox`, `module_sandbox`) and webhook endpoints
(`make_endpoint`) come from tests/support/sandbox.py. Only the runner API of
apimw_cli/sandbox/SPEC.md is used; everything else goes over HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest

from tests.sandbox.support import MakeApi, RunningSandboxLike, client, token_pair


@pytest.fixture
def make_sandbox_api() -> Iterator[MakeApi]:
    """An httpx.Client on a sandbox's base URL with a fresh bearer token; closed at teardown."""
    with ExitStack() as stack:

        def make(running: RunningSandboxLike) -> httpx.Client:
            token = token_pair(running.base_url)["access_token"]
            return stack.enter_context(client(running.base_url, token))

        yield make


@pytest.fixture
def sandbox_api(running_sandbox: RunningSandboxLike, make_sandbox_api: MakeApi) -> httpx.Client:
    """A client with a bearer token on `running_sandbox`."""
    return make_sandbox_api(running_sandbox)


@pytest.fixture
def anon(running_sandbox: RunningSandboxLike) -> Iterator[httpx.Client]:
    """A client on `running_sandbox` without any Authorization header."""
    with client(running_sandbox.base_url) as anonymous:
        yield anonymous
