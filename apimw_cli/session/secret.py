"""The stable signing secret of `apimw listen`, as the Stripe CLI gives one.

Temporary webhooks that `listen` registers are signed with a secret created once per profile
(and one for the sandbox) and kept for every later session, so a developer puts it in their
app's `.env` once. It lives next to the token cache, in a 0600 file in a 0700 directory.
`apimw listen --print-secret` prints it; `--rotate-secret` replaces it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from apimw_cli.errors import ConfigError
from apimw_cli.settings import Settings, write_private_file
from apimw_cli.signing import SECRET_PREFIX, new_secret

if TYPE_CHECKING:
    from apimw_cli.output import Printer

__all__ = ["rotate", "show", "signature_hint", "stable_secret"]


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


def show(settings: Settings, printer: Printer, *, new: bool) -> None:
    """--print-secret, or --rotate-secret (`new`): the stable secret alone on stdout (for
    `.env`)."""
    value = rotate(settings) if new else stable_secret(settings)
    printer.line(value)
    if new:
        printer.info("a new secret: webhooks registered from now on use it; update your app's copy")


def signature_hint(
    sandbox: bool, stable: bool, secret_env: str | None, secret_file: Path | None = None
) -> str:
    """What listen says, once, when the app answers 401/403 to a forward: where the secret the
    app should verify with comes from."""
    if stable:
        where = " --sandbox" if sandbox else ""
        return (
            "your app rejected the signature: give it the secret that "
            f"`apimw listen{where} --print-secret` prints (the same every session)"
        )
    if secret_env:
        return f"your app rejected the signature: does it expect the secret in ${secret_env}?"
    if secret_file:
        return f"your app rejected the signature: does it expect the secret in {secret_file}?"
    return "your app rejected the signature: does it expect the secret given with --secret?"
