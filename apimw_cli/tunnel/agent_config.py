"""The agent's configuration: our own ngrok config file (it holds the authtoken, mode 0600) and
the `PyngrokConfig` built at run time (never pyngrok's import-time defaults)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from apimw_cli.errors import TunnelError
from apimw_cli.settings import write_private_file
from apimw_cli.tunnel.settings import AUTHTOKEN_URL, HOW_TO_SET_TOKEN, TunnelSettings

if TYPE_CHECKING:
    from pyngrok.conf import PyngrokConfig
    from pyngrok.log import NgrokLog


def require_authtoken(settings: TunnelSettings) -> str:
    token = settings.authtoken
    if not token:
        raise TunnelError(
            "no ngrok authtoken: ngrok needs a (free) account to open a tunnel",
            hint=f"copy yours from {AUTHTOKEN_URL} and set it with {HOW_TO_SET_TOKEN}",
        )
    return token


def write_agent_config(settings: TunnelSettings, token: str) -> None:
    """The authtoken goes into this file, never onto the agent's command line (`ps` shows it)."""
    # JSON strings are valid YAML double-quoted scalars: any token is quoted safely.
    text = (
        "# Written by apimw for `apimw listen`. Holds the ngrok authtoken: keep it private.\n"
        "version: '3'\n"
        "agent:\n"
        f"  authtoken: {json.dumps(token)}\n"
    )
    try:
        write_private_file(settings.config_file, text.encode("utf-8"))
    except OSError as exc:
        raise TunnelError(
            f"cannot write the ngrok config file {settings.config_file}: {exc.strerror}",
            hint=f"check the permissions of {settings.config_dir}",
        ) from exc


def pyngrok_config(
    settings: TunnelSettings, ngrok_path: Path, on_line: Callable[[NgrokLog], None]
) -> PyngrokConfig:
    from pyngrok.conf import PyngrokConfig

    config = PyngrokConfig(
        ngrok_path=str(ngrok_path),
        config_path=str(settings.config_file),
        region=settings.region or None,
        monitor_thread=True,
        log_event_callback=on_line,
        startup_timeout=max(1, math.ceil(settings.startup_timeout)),
        # Creating the endpoint waits for ngrok's servers; our deadline bounds it anyway.
        request_timeout=max(5.0, settings.startup_timeout),
        ngrok_version="3",
        config_version="3",
    )
    # PyngrokConfig falls back to NGROK_AUTHTOKEN / NGROK_API_KEY from the environment, and
    # pyngrok passes an auth_token as `--authtoken T` (visible in `ps`): the token is in our
    # config file instead.
    config.auth_token = None
    config.api_key = None
    return config
