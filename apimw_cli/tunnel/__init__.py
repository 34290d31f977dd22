"""The ngrok tunnel: pyngrok lives in this package only.

`Tunnel` starts an ngrok agent through pyngrok with an explicit `PyngrokConfig` built at run time
(never pyngrok's import-time defaults), opens one HTTP endpoint to a local port, and stops the agent
on `close()`. Every pyngrok failure becomes a `TunnelError` (exit code 7) with a hint, raised
`from` the original exception.

- The authtoken goes into our own ngrok config file (mode 0600), never onto the agent's command
  line, where `ps` would show it to every user of the machine.
- pyngrok's start-up timeout is only checked between the agent's output lines, so a silent agent
  would block forever: the start runs in a worker thread under our own deadline, and an agent that
  misses it is killed.
- The agent's log lines never reach the terminal raw: they are kept (masked) in `Tunnel.agent_log`
  and forwarded at DEBUG level to the `apimw_cli.tunnel.agent` logger; the `pyngrok` logger does
  not propagate to the root logger.

The modules, by responsibility:

    facade          Tunnel: open / close / alive / restart
    agent_process   start with one endpoint under our deadline (a Future), abort, stop
    agent_config    our 0600 ngrok config file and the PyngrokConfig
    binary          which agent binary runs, and downloading pyngrok's managed copy
    ngrok_errors    pyngrok failures -> TunnelError; ERR_NGROK codes looked up in a table
    scrubbing       authtokens masked in pyngrok's log records, which stay off the terminal
    agent_log       the agent's (masked) log lines
    health          answers(): the self-check through the public URL (httpx)
    pyngrok_private every pyngrok private name we touch, with the version it was checked against
    settings        TunnelSettings and the URLs hints cite

pyngrok and httpx are imported inside the functions that need them, so importing this package
stays cheap (`apimw listen --help` must not load them).
"""

from __future__ import annotations

from apimw_cli.tunnel.agent_log import AGENT_LOG_LINES
from apimw_cli.tunnel.binary import (
    AgentBinary,
    BinarySource,
    find_agent_binary,
    managed_ngrok_path,
)
from apimw_cli.tunnel.facade import Tunnel
from apimw_cli.tunnel.health import answers
from apimw_cli.tunnel.scrubbing import route_pyngrok_logging
from apimw_cli.tunnel.settings import (
    AGENTS_URL,
    AUTHTOKEN_URL,
    CONFIG_FILE_NAME,
    DOMAINS_URL,
    DOWNLOAD_URL,
    SIGNUP_URL,
    TunnelSettings,
)

__all__ = [
    "AGENTS_URL",
    "AGENT_LOG_LINES",
    "AUTHTOKEN_URL",
    "CONFIG_FILE_NAME",
    "DOMAINS_URL",
    "DOWNLOAD_URL",
    "SIGNUP_URL",
    "AgentBinary",
    "BinarySource",
    "Tunnel",
    "TunnelSettings",
    "answers",
    "find_agent_binary",
    "managed_ngrok_path",
    "route_pyngrok_logging",
]
