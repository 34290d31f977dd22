"""`apimw sign` and `apimw verify`: X-APIMW-Signature values, offline.

Both read the body as raw bytes, exactly as given: nothing is stripped or re-encoded, because
the signature covers every byte. `printf '%s' "$BODY"` and `echo "$BODY"` differ by a newline,
and so do their signatures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from apimw_cli.commands.common import secret_from_env, state
from apimw_cli.errors import SignatureError, UsageError


def read_body(body_file: Path | None) -> bytes:
    """The body's raw bytes from --body-file, or else from standard input."""
    if body_file is not None:
        try:
            return body_file.read_bytes()
        except OSError as error:
            raise UsageError(f"--body-file: cannot read {body_file}: {error.strerror}") from None
    import sys

    if sys.stdin.isatty():
        raise UsageError(
            "no body: give --body-file FILE or pipe the body into standard input",
            hint="e.g. printf '%s' \"$BODY\" | apimw sign --secret-env WEBHOOK_SECRET",
        )
    return sys.stdin.buffer.read()


def _secrets(values: list[str], env_vars: list[str]) -> list[str]:
    found = [*values, *(secret_from_env(var, "--secret-env") for var in env_vars)]
    if not any(found):
        raise UsageError("give the webhook secret with --secret or --secret-env")
    return found


BodyFile = Annotated[
    Path | None,
    typer.Option(
        "--body-file",
        metavar="FILE",
        help="The body, byte for byte [default: standard input].",
        dir_okay=False,
    ),
]


def sign(
    ctx: typer.Context,
    secret: Annotated[
        str | None,
        typer.Option("--secret", metavar="SECRET", help="The webhook secret (whsec_...)."),
    ] = None,
    secret_env: Annotated[
        str | None,
        typer.Option("--secret-env", metavar="VAR", help="Read the secret from $VAR."),
    ] = None,
    body_file: BodyFile = None,
) -> None:
    """Print the X-APIMW-Signature value of a body (for curl experiments).

    The body is read as raw bytes: `echo` adds a newline that `printf '%s'` does not, and the
    signature changes with it.

    Example: printf '%s' "$BODY" | apimw sign --secret-env WEBHOOK_SECRET
    """
    from apimw_cli import signing

    printer = state(ctx).printer
    if secret is not None and secret_env is not None:
        raise UsageError("give the secret one way: --secret or --secret-env")
    key = _secrets([secret] if secret is not None else [], [secret_env] if secret_env else [])[0]
    header = signing.sign(read_body(body_file), key)
    printer.data({"header": header, "algorithm": "sha256"}, lambda: printer.line(header))


def verify(
    ctx: typer.Context,
    header: Annotated[
        str | None,
        typer.Option("--header", metavar="VALUE", help="The X-APIMW-Signature value received."),
    ] = None,
    secret: Annotated[
        list[str] | None,
        typer.Option(
            "--secret",
            metavar="SECRET",
            help="A webhook secret; repeat it to accept old and new ones.",
        ),
    ] = None,
    secret_env: Annotated[
        list[str] | None,
        typer.Option("--secret-env", metavar="VAR", help="Read a secret from $VAR (repeatable)."),
    ] = None,
    body_file: BodyFile = None,
) -> None:
    """Check an X-APIMW-Signature against a body, and explain a mismatch.

    Exit code 0 when it matches, 8 when it does not (missing, malformed or wrong signature).
    Several secrets check a rotation: the first that matches wins.

    Example: apimw verify --secret-env WEBHOOK_SECRET --header "sha256=..." --body-file body.json
    """
    from apimw_cli import signing

    printer = state(ctx).printer
    secrets = _secrets(secret or [], secret_env or [])
    verdict = signing.verify(read_body(body_file), header, secrets)
    result = {
        "valid": verdict.valid,
        "code": str(verdict.code),
        "reason": verdict.reason,
        "diagnosis": verdict.diagnosis,
        "matched_secret": verdict.matched_secret,
    }

    def human() -> None:
        pairs = {"verdict": result["code"], "reason": verdict.reason}
        if verdict.diagnosis:
            pairs["diagnosis"] = verdict.diagnosis
        if verdict.matched_secret is not None and len(secrets) > 1:
            pairs["secret"] = f"#{verdict.matched_secret + 1} of {len(secrets)}"
        printer.fields(pairs)

    printer.data(result, human)
    if not verdict.valid:
        raise SignatureError(verdict.reason, hint=verdict.diagnosis)
