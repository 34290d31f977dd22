"""Every use of pyngrok's private names, in one place.

Checked against pyngrok 9.1.0 (pyproject pins `pyngrok>=9.1,<10`). pyngrok does not promise these
names: before raising the pin, re-read the pyngrok source for each one below.
`tests/tunnel/test_pyngrok_private.py` fails loudly when one disappears from the installed pyngrok;
docs/ngrok-agent.md says what else we rely on in pyngrok 9.1.

- `pyngrok.process._current_processes` (dict: ngrok_path -> NgrokProcess). pyngrok holds its
  process lock for the whole start, so the public `ngrok.get_ngrok_process()`/`ngrok.kill()`
  would block behind the very start we abort. If it changes, aborting a silent agent fails
  (AttributeError on Ctrl-C or at our deadline) or leaves the agent running.
- `pyngrok.installer._print_progress_enabled` (module flag read by its progress printer).
  If it changes, setting it silently does nothing and "Downloading ngrok ..." lands on our
  stdout, which carries NDJSON.
- The logger names in `PYNGROK_LOGGERS`. A logging filter only sees records created on its own
  logger, so each one gets the authtoken mask; a renamed logger would log unmasked.

pyngrok is imported inside the functions, so importing this module stays cheap.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyngrok.process import NgrokProcess

CHECKED_AGAINST = "9.1.0"

# (module, attribute) pairs this module reads or writes; the test checks each still exists.
PRIVATE_NAMES = (
    ("pyngrok.process", "_current_processes"),
    ("pyngrok.installer", "_print_progress_enabled"),
)

# pyngrok's loggers (logging.getLogger(__name__) in its modules, plus the agent's own lines).
PYNGROK_LOGGERS = (
    "pyngrok",
    "pyngrok.agent",
    "pyngrok.installer",
    "pyngrok.ngrok",
    "pyngrok.process",
    "pyngrok.process.ngrok",
)


def registered_agent(ngrok_path: str) -> NgrokProcess | None:
    """The agent pyngrok has registered for `ngrok_path`, read without taking pyngrok's lock."""
    from pyngrok import process

    return process._current_processes.get(ngrok_path)


_installer_lock = threading.Lock()


@contextlib.contextmanager
def installer_progress_off() -> Iterator[None]:
    """pyngrok's installer writes "Downloading ngrok ..." to stdout, which carries our data
    (NDJSON): switch its progress output off while we install."""
    from pyngrok import installer

    with _installer_lock:
        previous = getattr(installer, "_print_progress_enabled", True)
        installer._print_progress_enabled = False
        try:
            yield
        finally:
            installer._print_progress_enabled = previous
