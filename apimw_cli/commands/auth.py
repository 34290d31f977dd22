"""`apimw login`, `logout` and `whoami`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from apimw_cli.commands.common import AppState, interactive, remember, secret_from_file, state
from apimw_cli.errors import ApiError, ApimwError, UsageError
from apimw_cli.protocol import WEBHOOKS_PERMISSION
from apimw_cli.settings import ENV_API_KEY, ENV_API_SECRET, ENV_TOKEN, Credentials

if TYPE_CHECKING:
    from apimw_cli.models import Identity


def _identity_dict(identity: Identity) -> dict[str, Any]:
    return {
        "user": {"id": identity.user_id, "email": identity.email, "name": identity.name},
        "tenant": {
            "id": identity.tenant_id,
            "name": identity.tenant_name,
            "plan": identity.plan,
            "status": identity.tenant_status,
        },
        "permissions": list(identity.permissions),
    }


def _read_key(api_key: str | None) -> str:
    import os

    key = api_key or os.environ.get(ENV_API_KEY)
    if not key and interactive():
        key = typer.prompt("API key (ak_...)").strip()
    if not key:
        raise UsageError(
            "no API key given",
            hint=f"pass --api-key or set {ENV_API_KEY} (nothing can be asked: no terminal)",
        )
    return key.strip()


def _read_secret(from_stdin: bool, from_file: Path | None) -> str:
    import os

    if from_stdin and from_file is not None:
        raise UsageError("give the API secret one way: --api-secret-stdin or --api-secret-file")
    if from_file is not None:
        return secret_from_file(from_file, "--api-secret-file")
    if from_stdin:
        secret = sys.stdin.readline().strip()
        if not secret:
            raise UsageError("--api-secret-stdin was given but standard input was empty")
        remember(secret)
        return secret
    secret = os.environ.get(ENV_API_SECRET, "")
    if not secret and interactive():
        secret = typer.prompt("API secret (sk_..., hidden)", hide_input=True).strip()
    if not secret:
        raise UsageError(
            "no API secret given",
            hint=f"pipe it to --api-secret-stdin, name a file with --api-secret-file or set "
            f"{ENV_API_SECRET}; a secret on the command line would end up in your shell history",
        )
    remember(secret)
    return secret


def _check_credentials(app: AppState, key: str, secret: str) -> Identity | None:
    """Log in with `key` and `secret` (raises when the API refuses them) and say who they are
    (None, with a warning, when auth/me fails). Their tokens replace the profile's cached ones."""
    from apimw_cli.api.auth import whoami

    given = Credentials(source="login", api_key=key, api_secret=secret)
    with app.client(credentials=given) as client:
        store = app.settings.token_store(given)
        with store.lock():
            store.clear()  # new credentials: tokens of the old ones no longer apply
        tokens = client.tokens
        assert tokens is not None  # credentials were given
        tokens.token()  # raises on wrong credentials: nothing is saved then
        try:
            return whoami(client)
        except ApiError as exc:
            app.printer.warn(f"credentials work, but auth/me failed: {exc.message}")
            return None


def _forget_replaced_tokens(app: AppState, key: str) -> None:
    """The profile's previous key is replaced: its token cache (and lock) would stay forever."""
    old_key = app.settings.config.profile(app.settings.profile).get("api_key")
    if not isinstance(old_key, str) or old_key == key:
        return
    old = app.settings.token_store(Credentials(source="login", api_key=old_key))
    try:
        with old.lock(timeout=5.0):
            old.clear()
    except ApimwError as exc:  # only housekeeping: the login itself succeeded
        app.printer.warn(f"could not remove the old key's cached tokens: {exc.message}")


def login(
    ctx: typer.Context,
    api_key: Annotated[
        str | None,
        typer.Option("--api-key", metavar="KEY", help=f"API key (ak_...) [env: {ENV_API_KEY}]."),
    ] = None,
    api_secret_stdin: Annotated[
        bool,
        typer.Option(
            "--api-secret-stdin",
            help=f"Read the API secret from standard input [else env {ENV_API_SECRET}, "
            "else a hidden prompt].",
        ),
    ] = False,
    api_secret_file: Annotated[
        Path | None,
        typer.Option(
            "--api-secret-file",
            metavar="FILE",
            help="Read the API secret from the first line of FILE.",
        ),
    ] = None,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify/--no-verify", help="Check the credentials against the API before saving."
        ),
    ] = True,
) -> None:
    """Save an API key and secret in a profile, after checking them.

    The config file is written with mode 0600.

    Examples:

      apimw login

      printf '%s' "$SECRET" | apimw login --api-key ak_live_... --api-secret-stdin

      apimw login --api-key ak_live_... --api-secret-file ~/.config/apimw-secret
    """
    app = state(ctx)
    settings = app.settings
    printer = app.printer
    if app.sandbox:
        raise UsageError(
            "the sandbox needs no login: --sandbox already uses its credentials",
            hint="run `apimw sandbox credentials` to see them",
        )
    key = _read_key(api_key)
    secret = _read_secret(api_secret_stdin, api_secret_file)
    if key.startswith("sk_") and secret.startswith("ak_"):
        raise UsageError("the API key and secret look swapped (key sk_..., secret ak_...)")
    if not key.startswith("ak_"):
        from apimw_cli.output import mask

        printer.warn(f"API keys usually start with 'ak_'; got {mask(key)}")
    identity = _check_credentials(app, key, secret) if verify else None
    changes: dict[str, Any] = {"api_key": key, "api_secret": secret}
    if app.api_base:
        changes["api_base"] = app.api_base
    _forget_replaced_tokens(app, key)
    settings.config.update_profile(settings.profile, **changes)
    result: dict[str, Any] = {
        "profile": settings.profile,
        "config_file": str(settings.config.path),
        "verified": verify,
    }
    if identity is not None:
        result.update(_identity_dict(identity))

    def human() -> None:
        who = f" as {identity.email} ({identity.tenant_name}, {identity.plan})" if identity else ""
        printer.success(
            f"logged in{who}; profile {settings.profile!r} saved in {settings.config.path}"
        )
        if identity is not None and not identity.can(WEBHOOKS_PERMISSION):
            printer.warn(f"this key lacks the {WEBHOOKS_PERMISSION!r} permission")

    printer.data(result, human if not printer.json else None)


def _forget_sandbox_tokens(ctx: typer.Context) -> None:
    """`--sandbox logout`: the sandbox's credentials are fixed and public, so only its cached
    tokens are forgotten (locally: they are worth nothing, and the sandbox may be gone)."""
    app = state(ctx)
    settings = app.settings
    printer = app.printer
    store = settings.token_store(settings.credentials())
    with store.lock():
        had_tokens = store.load() is not None or store.path.exists()
        store.clear()
    result = {
        "profile": "sandbox",
        "api_base": settings.api_base,
        "forgotten": had_tokens,
        "revoked": False,
    }

    def human() -> None:
        if had_tokens:
            printer.success(f"forgot the sandbox's cached tokens for {settings.api_base}")
        else:
            printer.info(f"no cached sandbox tokens for {settings.api_base}; nothing to forget")
        printer.info("the sandbox's credentials are fixed: `--sandbox` keeps working")

    printer.data(result, human if not printer.json else None)


def logout(ctx: typer.Context) -> None:
    """Forget a profile's credentials and revoke its cached token.

    With --sandbox, forget the sandbox's cached tokens (its credentials are fixed).
    """
    app = state(ctx)
    settings = app.settings
    printer = app.printer
    if app.sandbox:
        _forget_sandbox_tokens(ctx)
        return
    stored = settings.config.profile(settings.profile)
    key, secret = stored.get("api_key"), stored.get("api_secret")
    revoked = False
    if isinstance(key, str) and isinstance(secret, str):
        store = settings.token_store(Credentials(source="login", api_key=key, api_secret=secret))
        with store.lock():
            cached = store.load()
            store.clear()
        if cached is not None and cached.access_token:
            from apimw_cli.api.auth import revoke

            try:
                with app.client(auth=False) as client:
                    revoked = revoke(client, cached.access_token)
            except ApimwError as exc:  # offline or refused: forget locally all the same
                printer.warn(f"could not revoke the cached token: {exc.message}")
    had_credentials = key is not None or secret is not None
    if had_credentials:

        def forget(profile: dict[str, Any]) -> None:
            # Only what we revoked: a `login` that ran meanwhile keeps its new credentials.
            if profile.get("api_key") == key and profile.get("api_secret") == secret:
                profile.pop("api_key", None)
                profile.pop("api_secret", None)

        settings.config.edit_profile(settings.profile, forget)
    result = {"profile": settings.profile, "forgotten": had_credentials, "revoked": revoked}

    def human() -> None:
        if had_credentials:
            printer.success(f"logged out of profile {settings.profile!r}")
        else:
            printer.info(f"profile {settings.profile!r} holds no credentials; nothing to forget")
        import os

        still = [name for name in (ENV_TOKEN, ENV_API_KEY, ENV_API_SECRET) if os.environ.get(name)]
        if still:
            printer.warn(f"{', '.join(still)} still set in the environment: unset to log out fully")

    printer.data(result, human if not printer.json else None)


def whoami(ctx: typer.Context) -> None:
    """Show who the credentials belong to, and what they may do."""
    from apimw_cli.api.auth import whoami as fetch_identity

    app = state(ctx)
    printer = app.printer
    with app.client() as client:
        identity = fetch_identity(client)
    data = _identity_dict(identity)
    data["api_base"] = app.settings.api_base
    data["credentials"] = app.settings.credentials().source

    def human() -> None:
        printer.fields(
            {
                "user": f"{identity.name} <{identity.email}> ({identity.user_id})",
                "tenant": f"{identity.tenant_name} ({identity.tenant_id})",
                "plan": identity.plan,
                "status": identity.tenant_status,
                "permissions": ", ".join(identity.permissions) or "(none)",
                "api": app.settings.api_base,
                "credentials": data["credentials"],
            }
        )

    printer.data(data, human)
    if not identity.can(WEBHOOKS_PERMISSION):
        printer.warn(
            f"these credentials lack {WEBHOOKS_PERMISSION!r}: webhook commands will fail; "
            "create an API key with that permission in the APIMW console"
        )
