"""The stable signing secret of `apimw listen`, as the Stripe CLI gives one.

Temporary webhooks that `listen` registers are signed with a secret created once per profile
(and one for the sandbox) and kept for every later session, so a developer puts it in their
app's `.env` once. It lives next to the token cache, in a 0600 file in a 0700 directory.
`apimw listen --print-secret` prints it; `--rotate-secret` replaces it.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from apimw_cli.errors import ConfigError
from apimw_cli.settings import Settings, write_private_file

__all__ = ["new_secret", "rotate", "stable_secret"]

PREFIX = "whsec_"


def new_secret() -> str:
    """A fresh webhook signing secret: `whsec_` and 256 random bits."""
    return PREFIX + secrets.token_urlsafe(32)


def _path(settings: Settings) -> Path:
    name = "sandbox" if settings.sandbox else settings.profile
    return settings.config_dir / "secrets" / f"listen-{name}.secret"


def stable_secret(settings: Settings) -> str:
    """This profile's (or the sandbox's) listen secret, created on first use."""
    path = _path(settings)
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return rotate(settings)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"cannot read the listen signing secret in {path}: {exc}",
            hint="`apimw listen --rotate-secret` writes a new one",
        ) from exc
    if not text.startswith(PREFIX) or len(text) < len(PREFIX) + 16 or not text.isprintable():
        raise ConfigError(
            f"the listen signing secret in {path} is damaged",
            hint="`apimw listen --rotate-secret` writes a new one (then update your app's copy)",
        )
    return text


def rotate(settings: Settings) -> str:
    """Replace the listen secret with a new one and return it."""
    secret = new_secret()
    write_private_file(_path(settings), (secret + "\n").encode("utf-8"))
    return secret
