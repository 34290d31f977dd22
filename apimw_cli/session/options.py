"""What a listen session is given: its options, already parsed and checked by the command, and
the invocation it runs in (the root command's state, seen through the few things it needs)."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from apimw_cli.receiver.events import ReceiverConfig

if TYPE_CHECKING:
    from apimw_cli.api.client import ApiClient
    from apimw_cli.output import Printer
    from apimw_cli.session.matching import Condition
    from apimw_cli.settings import Settings

__all__ = ["Inspect", "Invocation", "ListenOptions"]


class Invocation(Protocol):
    """The command line's state as the session uses it (commands.common.AppState is one)."""

    sandbox: bool  # on the sandbox: `--sandbox listen` or `listen --sandbox`
    debug: bool  # --debug: show the ngrok agent's own words when the tunnel fails

    @property
    def settings(self) -> Settings: ...

    @property
    def printer(self) -> Printer: ...

    def use_sandbox(self, api_base: str | None = None, /) -> None:
        """Send API calls to the sandbox at `api_base` from now on."""

    def client(self) -> AbstractContextManager[ApiClient]:
        """An authenticated API client (for the current settings)."""


@dataclass(frozen=True)
class Inspect:
    """Where the inspector serves: `port` from --inspect-port (0: any free), None: 4040 or the
    next free one."""

    port: int | None = None


@dataclass(frozen=True)
class ListenOptions:
    """`apimw listen`'s options, parsed and checked (see commands/listen.py for each flag)."""

    receiver: ReceiverConfig  # what the receiver verifies, answers, forwards and records
    tunnel: bool = False  # open the ngrok tunnel (and register through it)
    domain: str | None = None  # the tunnel's reserved domain
    webhook_ref: str | None = None  # point this webhook at us instead of registering one
    keep_stale: bool = False  # leave crashed sessions' temporary webhooks alone
    subscribe: tuple[str, ...] = ()  # the event types a temporary webhook subscribes to
    stable_secret: bool = False  # the secret is the profile's own (said once, at start)
    demo: bool = False  # generate traffic on the sandbox
    ndjson: bool = False  # NDJSON records instead of lines
    verbose: bool = False  # show bodies and the app's answers
    signature_hint: str | None = None  # said once when the app rejects a forward's signature
    ready_file: Path | None = None  # where to write the receive URL once ready
    expectations: Mapping[str, int] = field(default_factory=dict)  # --expect: pattern -> count
    where: tuple[Condition, ...] = ()  # --where/--expect-message: what --expect events must hold
    deadline_s: float | None = None  # --timeout, in seconds
    # The inspector page over the session log (there is none with --no-record); None: --no-inspect
    inspect: Inspect | None = Inspect()

    @property
    def secret(self) -> str | None:
        """The signing secret webhooks are verified with (and a temporary one registered with)."""
        return self.receiver.secrets[0] if self.receiver.secrets else None

    @property
    def receive_path(self) -> str:
        """The path APIMW delivers to."""
        return self.receiver.path or "/webhooks"
