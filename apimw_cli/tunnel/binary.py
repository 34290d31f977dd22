"""Which ngrok agent runs: the configured one, `ngrok` on PATH, or pyngrok's managed copy.

pyngrok installs an `ngrok` console script of its own (e.g. `.venv/bin/ngrok`): a Python
launcher that downloads the agent on first use, not an agent. It is passed over on PATH (the
managed copy it would download is what runs), and reported as such by `apimw doctor`.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from apimw_cli.errors import TunnelError
from apimw_cli.tunnel.pyngrok_private import installer_progress_off
from apimw_cli.tunnel.settings import DOWNLOAD_URL, HOW_TO_SET_PATH

log = logging.getLogger(__name__)

BinarySource = Literal["ngrok_path", "PATH", "managed"]


@dataclass(frozen=True)
class AgentBinary:
    """Where the ngrok agent is, and how it was found (`exists` False: it would be downloaded)."""

    path: Path
    source: BinarySource
    exists: bool
    launcher: Path | None = None  # pyngrok's launcher found on PATH and passed over


def is_pyngrok_launcher(path: Path) -> bool:
    """Is `path` pyngrok's `ngrok` entry point (a Python script importing pyngrok)?"""
    try:
        with path.open("rb") as file:
            head = file.read(4096)
    except OSError:
        return False
    shebang = head.split(b"\n", 1)[0]
    return shebang.startswith(b"#!") and b"python" in shebang and b"pyngrok" in head


def _ngrok_on_path() -> tuple[Path | None, Path | None]:
    """(the first real `ngrok` agent on PATH, the first pyngrok launcher before it)."""
    launcher: Path | None = None
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        found = shutil.which("ngrok", path=directory) if directory else None
        if found is None:
            continue
        if not is_pyngrok_launcher(Path(found)):
            return Path(found), launcher
        launcher = launcher or Path(found)
    return None, launcher


def managed_ngrok_path() -> Path:
    """pyngrok's own copy of the agent, computed now (pyngrok's constant is fixed at import)."""
    from pyngrok import installer

    return Path(installer.get_default_ngrok_dir()) / installer.get_ngrok_bin()


def find_agent_binary(ngrok_path: str | None) -> AgentBinary:
    """The agent to run: `ngrok_path` if set, else `ngrok` on PATH, else pyngrok's managed copy.

    Raises TunnelError when `ngrok_path` is set but is not an executable file: a configured
    path that is wrong is an error, not a reason to download another agent. Downloads nothing.
    """
    if ngrok_path:
        path = Path(ngrok_path).expanduser()
        if not path.is_file():
            raise TunnelError(
                f"the ngrok agent was not found at {path} (ngrok_path)",
                hint=f"install ngrok ({DOWNLOAD_URL}) and point {HOW_TO_SET_PATH} at it, "
                "or unset ngrok_path to let apimw download it",
            )
        if not os.access(path, os.X_OK):
            raise TunnelError(
                f"the ngrok agent at {path} is not executable (ngrok_path)",
                hint=f"chmod +x {path}, or point {HOW_TO_SET_PATH} at another ngrok",
            )
        return AgentBinary(path, "ngrok_path", True)
    on_path, launcher = _ngrok_on_path()
    if on_path is not None:
        return AgentBinary(on_path, "PATH", True, launcher)
    managed = managed_ngrok_path()
    return AgentBinary(managed, "managed", managed.is_file(), launcher)


def ready_agent_binary(ngrok_path: str | None) -> AgentBinary:
    """`find_agent_binary()`, downloading pyngrok's managed copy when there is none yet."""
    binary = find_agent_binary(ngrok_path)
    if not binary.exists:
        download_agent(binary.path)
    return binary


def download_agent(path: Path) -> None:
    """Install pyngrok's managed agent, without pyngrok's progress output on stdout."""
    from pyngrok import installer
    from pyngrok.exception import PyngrokError

    log.debug("downloading the ngrok agent to %s", path)
    with installer_progress_off():
        try:
            installer.install_ngrok(str(path), ngrok_version="3")
        except PyngrokError as exc:
            raise TunnelError(
                "the ngrok agent is not installed and could not be downloaded",
                hint=f"install ngrok ({DOWNLOAD_URL}, or your package manager) so that "
                f"`ngrok` is on PATH, or point {HOW_TO_SET_PATH} at it",
            ) from exc
