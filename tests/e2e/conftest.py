"""End-to-end fixtures for CLI commands: a real sandbox on port 0 that `--sandbox` reaches."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from apimw_cli.sandbox.server import RunningSandbox, SandboxConfig, run_in_thread


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningSandbox]:
    """An ephemeral sandbox with fast retries; `apimw --sandbox ...` talks to it."""
    config = SandboxConfig(port=0, ephemeral=True, time_scale=3600.0, rate_limit=0)
    with run_in_thread(config) as running:
        monkeypatch.setenv("APIMW_SANDBOX_URL", running.base_url)
        yield running
