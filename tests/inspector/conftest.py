"""Fixtures shared by the inspector's web, server and security tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.inspector.web_support import SessionLog


@pytest.fixture
def log(tmp_path: Path) -> Iterator[SessionLog]:
    """A session log that tests append events to, as listen's recorder does."""
    session = SessionLog(tmp_path / "session.jsonl")
    yield session
    session.close()
