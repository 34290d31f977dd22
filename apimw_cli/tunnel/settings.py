"""What a tunnel needs to know, and where the user fixes it (the URLs and settings hints cite)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from apimw_cli.settings import ENV_NGROK_AUTHTOKEN, ENV_NGROK_PATH

AUTHTOKEN_URL = "https://dashboard.ngrok.com/get-started/your-authtoken"
SIGNUP_URL = "https://dashboard.ngrok.com/signup"
AGENTS_URL = "https://dashboard.ngrok.com/agents"
DOMAINS_URL = "https://dashboard.ngrok.com/domains"
DOWNLOAD_URL = "https://ngrok.com/download"
CONFIG_FILE_NAME = "ngrok.yml"

HOW_TO_SET_TOKEN = (
    f"`apimw config set ngrok_authtoken <token>` or the {ENV_NGROK_AUTHTOKEN} variable"
)
HOW_TO_SET_PATH = f"`apimw config set ngrok_path /path/to/ngrok` or {ENV_NGROK_PATH}"


@dataclass(frozen=True)
class TunnelSettings:
    """What the tunnel needs, resolved from apimw's settings by the caller.

    `config_dir` is where apimw keeps its own ngrok config file (e.g. `config_dir()/ngrok`);
    the authtoken is written there (0600) and never passed on the command line.
    `authtoken_source` only improves error hints ("env NGROK_AUTHTOKEN", "profile 'default'").
    """

    authtoken: str | None = field(repr=False)
    ngrok_path: str | None
    region: str | None
    config_dir: Path
    domain: str | None = None
    startup_timeout: float = 20.0
    authtoken_source: str | None = None

    @property
    def config_file(self) -> Path:
        return self.config_dir / CONFIG_FILE_NAME


def domain_url(domain: str) -> str:
    """A reserved domain as the endpoint URL the agent wants (`https://<domain>`)."""
    domain = domain.strip().rstrip("/")
    return domain if "://" in domain else f"https://{domain}"
