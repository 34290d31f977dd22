"""Fixtures: receivers on port 0 (recording to tmp_path) and local apps, all stopped at teardown."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from apimw_cli.receiver.events import ReceiverConfig
from apimw_cli.server_stack import ServerStack, detect
from tests.receiver.support import SECRET, AppBehaviour, Live, LocalApp, live_receiver

StartReceiver = Callable[..., Live]
StartApp = Callable[..., LocalApp]


@pytest.fixture
def server_stack() -> ServerStack:
    """What receivers run on: what `listen` would pick here. A module that imports
    `support.every_server_stack` runs its receivers on each stack instead."""
    return detect()


@pytest.fixture
def start_receiver(tmp_path: Path, server_stack: ServerStack) -> Iterator[StartReceiver]:
    """Start a receiver: port 0, SECRET, recording to tmp_path; keyword arguments override."""
    base = ReceiverConfig(port=0, secrets=(SECRET,), record=tmp_path / "session.jsonl")
    with ExitStack() as stack:

        def start(drain_timeout: float = 5.0, **overrides: Any) -> Live:
            config = replace(base, **overrides)
            return stack.enter_context(live_receiver(config, drain_timeout, server_stack))

        yield start


@pytest.fixture
def start_app() -> Iterator[StartApp]:
    """Start a local app the receiver can forward to; keyword arguments set its behaviour."""
    with ExitStack() as stack:

        def start(**behaviour: Any) -> LocalApp:
            return stack.enter_context(LocalApp(AppBehaviour(**behaviour)))

        yield start


@pytest.fixture
def receiver(start_receiver: StartReceiver) -> Live:
    """A receiver with the defaults (ack, SECRET, no forward target)."""
    return start_receiver()
