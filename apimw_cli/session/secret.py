"""The stable signing secret of `apimw listen`, as the Stripe CLI gives one.

Temporary webhooks that `listen` registers are signed with a secret created once per profile
(and one for the sandbox) and kept for every later session, so a developer puts it in their
app's `.env` once. It lives next to the token cache, in a 0600 file in a 0700 directory.
`apimw listen --print-secret` prints it; `--rotate-secret` replaces it.
"""

from __future__ import annotations

from pathlib import Path

from apimw_cli.errors import ConfigError
from apimw_cli.settings import Settings, write_private_file
from apimw_cli.signing import SECRET_PREFIX, new_secret

__all__ = ["rotate", "stable_secret"]


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
    if (
        not text.startswith(SECRET_PREFIX)
        or len(text) < len(SECRET_PREFIX) + 16
        or not text.isprintable()
    ):
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
