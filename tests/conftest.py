"""Every test runs in isolation: its own HOME and config dir, no APIMW_*/NGROK_* variables,
no colour, a fixed terminal width."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from apimw_cli.settings import ENV_CONFIG_DIR, ENV_DATA_DIR

# No per-example deadline: tests never judge speed (benchmarks/ measures it), and on a busy
# 2-core CI machine running four workers an example can take seconds without anything wrong.
settings.register_profile("apimw", deadline=None)
settings.load_profile("apimw")

# The sandbox and endpoint fixtures, one meaning per name, for every test directory.
pytest_plugins = ["tests.support.sandbox", "tests.support.refresh_server"]

# A test run started in the background by a non-interactive shell (`pytest &` in a script)
# ignores SIGINT, and the commands the tests start inherit that: `listen` would never see the
# Ctrl-C a test sends and the test would hang. A signal with a handler is reset to its default
# in a child; an ignored one stays ignored. So: handle it here.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto` (pyproject's addopts): two workers per core. Most tests wait on sockets,
    subprocesses and sandboxes rather than compute, so a second worker per core fills those
    waits (measured on 2 cores: 4 workers 39 s, 2 workers 59 s, 6 workers 37 s for e2e+sandbox).
    None when the command names single tests (`file::test`): starting workers would take longer
    than the tests."""
    if any("::" in arg for arg in config.args):
        return 0
    usable = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    return 2 * (len(usable) if usable else os.cpu_count() or 1)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name in list(os.environ):
        if name.startswith(("APIMW_", "NGROK_", "PYNGROK_")) or name in ("NO_COLOR", "FORCE_COLOR"):
            monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv(ENV_CONFIG_DIR, str(tmp_path / "config"))
    monkeypatch.setenv(ENV_DATA_DIR, str(tmp_path / "data"))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("TERM", "dumb")
    yield tmp_path / "config"
