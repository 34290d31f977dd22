"""`apimw webhooks test`: run the conformance suite (apimw_cli/conformance/) against an
endpoint, by webhook id (the URL and events come from the API) or by --url."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit

import typer

from apimw_cli.commands.common import AppState, SecretOptions, read_secret, state
from apimw_cli.errors import UsageError

if TYPE_CHECKING:
    from apimw_cli.conformance import CheckResult
    from apimw_cli.output import Printer

# conformance.CHECKS, written out: importing the suite would slow down `--help` (a test
# keeps the two the same).
CHECK_NAMES = "challenge, accepts, latency, rejects-forged, idempotent, unknown-type, https"

WebhookRefOrNone = Annotated[
    str | None,
    typer.Argument(metavar="ID", help="Webhook id, unique id prefix, or exact URL (looked up)."),
]
Url = Annotated[
    str | None,
    typer.Option("--url", metavar="URL", help="Test this URL directly; no API access needed."),
]
Secret = Annotated[
    str | None,
    typer.Option(
        "--secret",
        metavar="SECRET",
        help="The webhook's signing secret; - reads it from standard input (prefer "
        "--secret-file or --secret-env: a value here shows in `ps`).",
    ),
]
SecretEnv = Annotated[
    str | None,
    typer.Option("--secret-env", metavar="VAR", help="Take the signing secret from $VAR."),
]
SecretFile = Annotated[
    Path | None,
    typer.Option(
        "--secret-file", metavar="FILE", dir_okay=False, help="Read the signing secret from FILE."
    ),
]
Events = Annotated[
    list[str] | None,
    typer.Option(
        "--event",
        "-e",
        metavar="TYPES",
        help="Event types to send (default: the webhook's, or all); repeat or comma-separate.",
    ),
]
Only = Annotated[
    list[str] | None,
    typer.Option(
        "--only",
        metavar="CHECKS",
        help=f"Run only these checks, of {CHECK_NAMES} (repeat or comma-separate).",
    ),
]
Skip = Annotated[
    list[str] | None,
    typer.Option(
        "--skip",
        metavar="CHECKS",
        help=f"Do not run these checks, of {CHECK_NAMES} (repeat or comma-separate).",
    ),
]
Junit = Annotated[
    Path | None,
    typer.Option(
        "--junit", metavar="FILE", dir_okay=False, help="Also write the results as JUnit XML."
    ),
]
Requests = Annotated[
    int,
    typer.Option(
        "--requests", metavar="N", min=1, max=1000, help="Signed events timed for `latency`."
    ),
]


def test(
    ctx: typer.Context,
    webhook_ref: WebhookRefOrNone = None,
    url: Url = None,
    secret: Secret = None,
    secret_env: SecretEnv = None,
    secret_file: SecretFile = None,
    event: Events = None,
    only: Only = None,
    skip: Skip = None,
    junit: Junit = None,
    requests: Requests = 5,
) -> None:
    """Check that an endpoint is ready for APIMW's deliveries.

    It must answer the challenge, check signatures, answer in time and handle duplicates.

    Checks: challenge, accepts, latency, rejects-forged, idempotent, unknown-type, https.
    The checks run at once. Each request may take 5 seconds, APIMW's limit: a later answer fails,
    as it would fail a real delivery. Every request carries `X-APIMW-Test: apimw-cli`. Exits 0
    only when no check fails.

    Examples:

      apimw webhooks test whk_123 --secret-env APIMW_WEBHOOK_SECRET

      apimw webhooks test --url https://example.com/hooks --secret-env S --junit report.xml
    """
    from apimw_cli import catalog, conformance
    from apimw_cli.receiver.probe import Probe

    app_state = state(ctx)
    if (webhook_ref is None) == (url is None):
        raise UsageError(
            "give a webhook ID or --url (one of them)",
            hint="`apimw webhooks test whk_...` or `apimw webhooks test --url https://...`",
        )
    checks = _checks(only or [], skip or [])
    the_secret = _secret(app_state, secret, secret_env, secret_file)
    events = catalog.parse_events(event) if event else []
    target_url, events = _target(app_state, webhook_ref, url, events)
    limit = conformance.LATENCY_LIMIT
    target = conformance.Target(target_url, the_secret, tuple(events), requests, limit)
    with Probe(target_url, timeout=limit) as probe:
        results = conformance.run(target, probe, checks)
    if junit is not None:
        try:
            junit.write_bytes(conformance.junit_xml(results, target_url))
        except OSError as exc:
            raise UsageError(f"--junit {junit}: {exc.strerror or exc}") from exc
    _report(app_state.printer, results, target_url)


def _checks(only: list[str], skip: list[str]) -> list[str]:
    """The checks to run, in the suite's order."""
    from apimw_cli import conformance

    try:
        checks = conformance.select(only, skip)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    if not checks:
        raise UsageError("--only/--skip leave no check to run")
    return checks


def _secret(
    app_state: AppState, secret: str | None, secret_env: str | None, secret_file: Path | None
) -> str:
    given = read_secret(SecretOptions(), app_state.printer.warn, secret, secret_env, secret_file)
    if given:
        return given
    raise UsageError(
        "the webhook's signing secret is needed to sign test events",
        hint="pass --secret-env VAR (or --secret-file FILE); the API never returns the secret",
    )


def _target(
    app_state: AppState, webhook_ref: str | None, url: str | None, events: list[str]
) -> tuple[str, list[str]]:
    """The URL to test and the event types to send: `url` as given, or the webhook's own
    (looked up through the API). Without --event: the webhook's known types, else all."""
    from apimw_cli import catalog

    if url is not None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"--url {url!r} is not an absolute http(s) URL")
        return url, events or list(catalog.EVENT_NAMES)
    from apimw_cli.api import webhooks

    assert webhook_ref is not None
    with app_state.client() as client:
        webhook = webhooks.resolve(client, webhook_ref)
    if not events:
        events = [e for e in webhook.events if catalog.get(e) is not None]
        events = events or list(catalog.EVENT_NAMES)
    app_state.printer.info(f"testing {webhook.id} at {webhook.url}")
    return webhook.url, events


def _report(printer: Printer, results: list[CheckResult], target_url: str) -> None:
    """The results as a table (or JSON); exit 1 when a check failed, loudly for forgeries."""
    from apimw_cli import conformance

    def human() -> None:
        printer.table(
            ["check", "result", "status", "latency", "notes"],
            [
                [
                    r.check,
                    r.outcome.value.upper() if r.outcome is conformance.Outcome.FAIL else r.outcome,
                    r.observed or "-",
                    "-" if r.latency_ms is None else f"{r.latency_ms:.0f} ms",
                    r.detail if r.hint is None else f"{r.detail}. hint: {r.hint}",
                ]
                for r in results
            ],
            title=f"apimw webhooks test {target_url}",
        )

    printer.data([r.to_dict() for r in results], human)
    failures = conformance.failed(results)
    forged = next((r for r in failures if r.check == "rejects-forged"), None)
    if forged is not None and any(s is not None and 200 <= s < 300 for s in forged.statuses):
        printer.error(
            "the endpoint ACCEPTS FORGED EVENTS: anyone who knows the URL can fake deliveries",
            hint=forged.hint,
        )
    slow = conformance.timed_out(results)
    if slow:
        printer.error(
            f"timed out (no answer within {conformance.LATENCY_LIMIT:g} s): "
            + ", ".join(r.check for r in slow),
            hint="APIMW counts a later answer as a failed delivery: answer 200 at once",
        )
    if failures:
        printer.error(f"{len(failures)} check(s) failed: {', '.join(r.check for r in failures)}")
        raise typer.Exit(1)
    warned = [r.check for r in results if r.outcome is conformance.Outcome.WARN]
    ran = sum(1 for r in results if r.outcome is not conformance.Outcome.SKIP)
    printer.success(
        f"{ran} check(s) passed" + (f" ({', '.join(warned)} with warnings)" if warned else "")
    )
