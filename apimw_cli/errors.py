"""Exit codes and the error tree.

A leaf module: it imports nothing from apimw_cli, so every layer can raise these.
The one error boundary (main.py) turns an ApimwError into `error:`/`hint:` lines and its exit code,
and Click's own usage errors (unknown option or command, missing or bad value) into the same two
lines with exit 2 and a hint naming the command's --help (did-you-mean first, when one is close).

Which code: what was typed on the command line is USAGE (2), a flag's bad value included; what
comes from the environment or the config file is CONFIG (3): an invalid APIMW_* value (named in
the message, for every command but `config`, which shows it), a profile chosen with --profile or
APIMW_PROFILE that does not exist (the message lists the ones that do).
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1
    USAGE = 2
    CONFIG = 3
    API_CLIENT = 4
    API_SERVER = 5
    NETWORK = 6
    TUNNEL = 7
    SIGNATURE = 8
    INTERRUPTED = 130


class ApimwError(Exception):
    """An error the user can act on: a message, an optional hint, an exit code."""

    exit_code: ExitCode = ExitCode.ERROR

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(ApimwError):
    """Input the command line accepted but that makes no sense (bad value, missing option)."""

    exit_code = ExitCode.USAGE


class ConfigError(ApimwError):
    """The config file, a profile or a setting is unusable."""

    exit_code = ExitCode.CONFIG


class CredentialsError(ConfigError):
    """No usable credentials, or the API rejected them."""


class ApiError(ApimwError):
    """The API answered with an error. Carries what the API said."""

    exit_code = ExitCode.API_CLIENT

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.code = code
        self.request_id = request_id


class AuthenticationError(ApiError):
    """401: the token or the credentials were refused."""

    exit_code = ExitCode.CONFIG


class PermissionDeniedError(ApiError):
    """403: the credentials lack a permission."""


class NotFoundError(ApiError):
    """404: no such resource."""


class ValidationError(ApiError):
    """400: the API refused the input."""


class RateLimitError(ApiError):
    """429 after the retries ran out."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status: int | None = 429,
        code: str | None = None,
        request_id: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code, request_id=request_id, hint=hint)
        self.retry_after = retry_after


class ServerError(ApiError):
    """5xx, or an answer that is not what the API promises."""

    exit_code = ExitCode.API_SERVER


class NetworkError(ApimwError):
    """The API could not be reached (DNS, refused connection, timeout, TLS)."""

    exit_code = ExitCode.NETWORK


class TunnelError(ApimwError):
    """The ngrok tunnel could not be opened or kept open."""

    exit_code = ExitCode.TUNNEL


class SignatureError(ApimwError):
    """An X-APIMW-Signature did not verify."""

    exit_code = ExitCode.SIGNATURE


class Interrupted(ApimwError):
    """Ctrl-C or SIGTERM."""

    exit_code = ExitCode.INTERRUPTED
