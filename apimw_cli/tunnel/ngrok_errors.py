"""pyngrok's failures as TunnelErrors (exit code 7) with a hint; never with the authtoken.

Errors ngrok documents by code (`ERR_NGROK_<n>`, https://ngrok.com/docs/errors/) are looked up in
`KNOWN_ERRORS`, the way httpx maps exceptions: a table, not a chain of ifs. The code comes from
pyngrok's exception, the agent API's answer or the agent's log lines of this start. Anything else
is worded by what failed (the API's answer, the agent's error line, an early exit).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from apimw_cli.errors import TunnelError
from apimw_cli.output.masking import mask
from apimw_cli.tunnel.scrubbing import Scrub
from apimw_cli.tunnel.settings import (
    AGENTS_URL,
    AUTHTOKEN_URL,
    DOMAINS_URL,
    DOWNLOAD_URL,
    HOW_TO_SET_PATH,
    HOW_TO_SET_TOKEN,
    SIGNUP_URL,
    TunnelSettings,
    domain_url,
)

if TYPE_CHECKING:
    from pyngrok.exception import PyngrokError

_ERROR_CODE = re.compile(r"ERR_NGROK_\d+")


@dataclass(frozen=True)
class KnownError:
    """One row of the table. `message` is a `str.format` template with the fields `code`,
    `token` (masked), `source` (" (from ...)" or ""), `domain` and `url` (see `_fields`)."""

    codes: tuple[str, ...]
    message: str
    hint: str


KNOWN_ERRORS: tuple[KnownError, ...] = (
    KnownError(
        ("ERR_NGROK_4018",),
        "ngrok refused to start without a verified account and authtoken ({code})",
        f"sign up (or verify your e-mail) at {SIGNUP_URL}, copy your authtoken from "
        f"{AUTHTOKEN_URL} and set it with {HOW_TO_SET_TOKEN}",
    ),
    KnownError(
        ("ERR_NGROK_105", "ERR_NGROK_106", "ERR_NGROK_107"),
        "ngrok rejected the authtoken {token}{source} ({code})",
        f"copy the current authtoken from {AUTHTOKEN_URL} (it changes when it is reset) and "
        f"set it with {HOW_TO_SET_TOKEN}",
    ),
    KnownError(
        ("ERR_NGROK_108",),
        "another ngrok agent session is already online for this ngrok account ({code})",
        f"free ngrok accounts allow one agent at a time: stop the other `ngrok` or "
        f"`apimw listen` (see {AGENTS_URL}), or run `apimw listen --no-tunnel` behind "
        "the tunnel you already have",
    ),
    KnownError(
        ("ERR_NGROK_319", "ERR_NGROK_320", "ERR_NGROK_7117", "ERR_NGROK_7118"),
        "the domain {domain} is not reserved for this ngrok account ({code})",
        f"reserve it at {DOMAINS_URL} (with the account of this authtoken), "
        "or run without a domain to get a random URL",
    ),
    KnownError(
        ("ERR_NGROK_334",),
        "{url} is already online in another ngrok session ({code})",
        f"stop the other agent that serves it (see {AGENTS_URL}), or use another domain",
    ),
    KnownError(
        ("ERR_NGROK_120", "ERR_NGROK_121"),
        "this ngrok agent is too old for the ngrok service ({code})",
        f"run `ngrok update`, or install a current one from {DOWNLOAD_URL}",
    ),
)

_BY_CODE = {code: row for row in KNOWN_ERRORS for code in row.codes}


@dataclass(frozen=True)
class StartFailure:
    """What an error message may draw on when a start fails."""

    settings: TunnelSettings
    ngrok_path: str
    agent_lines: list[str]  # this start's agent lines, masked
    scrub: Scrub


def known_error(code: str | None, settings: TunnelSettings) -> TunnelError | None:
    """The table's TunnelError for `code`, or None for a code it does not know."""
    row = _BY_CODE.get(code or "")
    if row is None:
        return None
    return TunnelError(row.message.format(code=code, **_fields(settings)), hint=row.hint)


def _fields(settings: TunnelSettings) -> dict[str, str]:
    source = settings.authtoken_source
    domain = settings.domain
    return {
        "token": mask(settings.authtoken),
        "source": f" (from {source})" if source else "",
        "domain": domain or "(none)",
        "url": domain_url(domain) if domain else "this URL",
    }


def translate(exc: PyngrokError, failure: StartFailure) -> TunnelError:
    """A pyngrok error as a TunnelError with a hint."""
    from pyngrok.exception import (
        PyngrokNgrokError,
        PyngrokNgrokHTTPError,
        PyngrokNgrokInstallError,
        PyngrokNgrokURLError,
    )

    if isinstance(exc, PyngrokNgrokInstallError):
        return TunnelError(
            "the ngrok agent is not installed and could not be downloaded",
            hint=f"install ngrok ({DOWNLOAD_URL}) or point {HOW_TO_SET_PATH} at it",
        )
    detail = ""
    if isinstance(exc, PyngrokNgrokHTTPError):
        detail = exc.body or str(exc)
    elif isinstance(exc, PyngrokNgrokError):
        detail = exc.ngrok_error or ""
    code = error_code(
        getattr(exc, "ngrok_error_code", None), detail, str(exc), *failure.agent_lines
    )
    known = known_error(code, failure.settings)
    if known is not None:
        return known
    scrub, hint = failure.scrub, docs_hint(code)
    if isinstance(exc, PyngrokNgrokHTTPError):
        said = scrub(first_line(api_message(detail)))
        return TunnelError(
            f"the ngrok agent refused to open the tunnel ({exc.status_code}): {said}", hint=hint
        )
    if isinstance(exc, PyngrokNgrokURLError):
        return TunnelError(
            "the ngrok agent's local API did not answer",
            hint="the agent may have crashed: try again",
        )
    if isinstance(exc, PyngrokNgrokError) and exc.ngrok_error:
        said = scrub(first_line(exc.ngrok_error))
        return TunnelError(f"the ngrok agent failed to start: {said}", hint=hint)
    if gave_up(exc):
        return exited_early(failure)
    return TunnelError(f"ngrok: {scrub(str(exc))}", hint=hint)


def exited_early(failure: StartFailure) -> TunnelError:
    lines = failure.agent_lines
    last = f" (its last line: {first_line(lines[-1])})" if lines else ""
    return TunnelError(
        f"the ngrok agent exited before it was ready{last}",
        hint=f"check that `{failure.ngrok_path} version` runs and says 3.x, or point "
        f"{HOW_TO_SET_PATH} at a working ngrok v3",
    )


def too_slow(startup_timeout: float) -> TunnelError:
    return TunnelError(
        f"the ngrok agent did not start within {startup_timeout:g} s",
        hint="the agent needs outbound HTTPS to ngrok's servers: check your network, "
        "proxy or firewall, and https://status.ngrok.com",
    )


def cannot_run(ngrok_path: str, error: OSError) -> TunnelError:
    return TunnelError(
        f"cannot run the ngrok agent {ngrok_path}: {error.strerror or error}",
        hint=f"check that it is an ngrok binary for this machine, or point "
        f"{HOW_TO_SET_PATH} at one",
    )


def gave_up(exc: BaseException) -> bool:
    """pyngrok's "unable to start": the agent exited, or its own start-up timeout ran out."""
    return "unable to start" in str(exc)


def error_code(*texts: str | None) -> str | None:
    """The first `ERR_NGROK_<n>` in `texts`."""
    for text in texts:
        match = _ERROR_CODE.search(text or "")
        if match:
            return match.group(0)
    return None


def docs_hint(code: str | None) -> str | None:
    return f"see https://ngrok.com/docs/errors/{code.lower()}/" if code else None


def first_line(text: str) -> str:
    line = text.replace("\\r", "").replace("\\n", "\n").strip().splitlines()
    return line[0].strip() if line else ""


def api_message(body: str) -> str:
    """The agent API's error message out of a JSON error body, else the body itself."""
    try:
        data = json.loads(body)
    except ValueError:
        return body
    if isinstance(data, dict):
        details = data.get("details")
        if isinstance(details, dict) and isinstance(details.get("err"), str):
            return str(details["err"])
        if isinstance(data.get("msg"), str):
            return str(data["msg"])
    return body
