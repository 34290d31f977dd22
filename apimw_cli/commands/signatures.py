"""`apimw sign` and `apimw verify`: X-APIMW-Signature values, offline.

Both read the body as raw bytes, exactly as given: nothing is stripped or re-encoded, because
the signature covers every byte. `printf '%s' "$BODY"` and `echo "$BODY"` differ by a newline,
and so do their signatures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from apimw_cli.commands.common import SecretOptions, read_secret, read_secrets, state
from apimw_cli.errors import SignatureError, UsageError

NAMES = SecretOptions()


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


def _check_stdin(values: list[str] | tuple[str, ...], body_file: Path | None) -> None:
    """`--secret -` takes standard input, so the body must come from --body-file."""
    if "-" in values and body_file is None:
        raise UsageError(
            "--secret - reads the secret from standard input: give the body with --body-file"
        )


NO_SECRET = "give the webhook secret with --secret-file FILE, --secret-env VAR or --secret -"


SecretFile = Annotated[
    Path | None,
    typer.Option(
        "--secret-file", metavar="FILE", help="Read the secret from FILE's first line.",
        dir_okay=False,
    ),
]  # fmt: skip
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
        typer.Option(
            "--secret",
            metavar="SECRET",
            help="The webhook secret (whsec_...); - reads it from standard input.",
        ),
    ] = None,
    secret_env: Annotated[
        str | None,
        typer.Option("--secret-env", metavar="VAR", help="Read the secret from $VAR."),
    ] = None,
    secret_file: SecretFile = None,
    body_file: BodyFile = None,
) -> None:
    """Print the X-APIMW-Signature value of a body (for curl experiments).

    The body is read as raw bytes: `echo` adds a newline that `printf '%s'` does not, and the
    signature changes with it.

    Example: printf '%s' "$BODY" | apimw sign --secret-env WEBHOOK_SECRET
    """
    from apimw_cli import signing

    printer = state(ctx).printer
    _check_stdin((secret,) if secret else (), body_file)
    key = read_secret(NAMES, printer.warn, secret, secret_env, secret_file)
    if key is None:
        raise UsageError(NO_SECRET)
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
            help="A webhook secret (- reads it from standard input); repeat it to accept old "
            "and new ones.",
        ),
    ] = None,
    secret_env: Annotated[
        list[str] | None,
        typer.Option("--secret-env", metavar="VAR", help="Read a secret from $VAR (repeatable)."),
    ] = None,
    secret_file: Annotated[
        list[Path] | None,
        typer.Option(
            "--secret-file",
            metavar="FILE",
            help="Read a secret from FILE's first line (repeatable).",
            dir_okay=False,
        ),
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
    _check_stdin(secret or (), body_file)
    secrets = read_secrets(NAMES, printer.warn, secret or [], secret_env or [], secret_file or [])
    if not secrets:
        raise UsageError(NO_SECRET)
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
