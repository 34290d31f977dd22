"""`apimw trigger`: send one realistic test event, to a URL or through the sandbox."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from apimw_cli import catalog
from apimw_cli.commands.common import (
    SecretOptions,
    check_http_url,
    duration_option,
    read_secret,
    state,
)
from apimw_cli.errors import ApimwError, NotFoundError, UsageError

if TYPE_CHECKING:
    from apimw_cli.commands.common import AppState
    from apimw_cli.output import Printer

ENVELOPE_KEYS = frozenset({"type", "timestamp", "data"})


def parse_value(text: str) -> Any:
    """A --set value: JSON when it parses (numbers, true, null, objects), else the string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def apply_set(event: dict[str, Any], assignment: str) -> None:
    """Apply one `dotted.path=value` to the envelope; a path outside it is taken under data."""
    path, sep, raw = assignment.partition("=")
    keys = [k.strip() for k in path.split(".")]
    if not sep or not all(keys):
        raise UsageError(
            f"--set {assignment!r}: expected dotted.path=value", hint="e.g. --set data.text=hello"
        )
    if keys[0] not in ENVELOPE_KEYS:
        keys = ["data", *keys]
    if keys == ["type"]:
        raise UsageError("--set cannot change the event type: give it as TYPE")
    target = event
    for key in keys[:-1]:
        child = target.get(key)
        if not isinstance(child, dict):
            child = target[key] = {}
        target = child
    target[keys[-1]] = parse_value(raw)


def apply_file(event: dict[str, Any], file: Path) -> dict[str, Any]:
    """Merge a JSON file: a whole envelope (with `data`), or just the data object."""
    try:
        loaded = json.loads(file.read_bytes())
    except OSError as error:
        raise UsageError(f"--file: cannot read {file}: {error.strerror}") from None
    except ValueError as error:
        raise UsageError(f"--file {file} is not valid JSON: {error}") from None
    if not isinstance(loaded, dict):
        raise UsageError(f"--file {file} must hold a JSON object (an envelope or its data)")
    if isinstance(loaded.get("data"), dict) and set(loaded) <= ENVELOPE_KEYS:
        if loaded.get("type", event["type"]) != event["type"]:
            raise UsageError(f"--file {file} is a {loaded['type']!r} event, not {event['type']!r}")
        return catalog.deep_merge(event, loaded)
    return catalog.deep_merge(event, {"data": loaded})


def build_event(
    event_type: str, file: Path | None = None, assignments: list[str] | None = None
) -> dict[str, Any]:
    """A catalog sample of `event_type`, with --file and then --set applied."""
    if catalog.get(event_type) is None:
        guess = catalog.suggest(event_type)
        raise UsageError(
            f"unknown event type {event_type!r}" + (f": did you mean {guess!r}?" if guess else ""),
            hint="`apimw events list` shows them all",
        )
    event = catalog.sample(event_type)
    if file is not None:
        event = apply_file(event, file)
    for assignment in assignments or []:
        apply_set(event, assignment)
    return event


def trigger(
    ctx: typer.Context,
    event_type: Annotated[
        str, typer.Argument(metavar="TYPE", help="An event type, e.g. message.received.")
    ],
    to: Annotated[
        str | None,
        typer.Option("--to", metavar="URL", help="POST it, signed, to this URL (your endpoint)."),
    ] = None,
    secret: Annotated[
        str | None,
        typer.Option(
            "--secret",
            metavar="SECRET",
            help="Sign with this webhook secret (with --to); - reads it from standard input.",
        ),
    ] = None,
    secret_env: Annotated[
        str | None,
        typer.Option("--secret-env", metavar="VAR", help="Sign with the secret in $VAR."),
    ] = None,
    secret_file: Annotated[
        Path | None,
        typer.Option(
            "--secret-file",
            metavar="FILE",
            help="Sign with the secret in FILE's first line.",
            dir_okay=False,
        ),
    ] = None,
    assignments: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="PATH=VALUE",
            help="Set a field, e.g. data.text=hello (JSON values parse; repeatable).",
        ),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file", metavar="FILE", help="A JSON envelope, or data, to merge into the sample."
        ),
    ] = None,
    timeout: Annotated[
        float,
        duration_option("--timeout", "How long to wait for the URL (with --to)", default=10),
    ] = 10.0,
) -> None:
    """Send a realistic test event to a URL, or have the sandbox emit it to your webhooks.

    With --to, the event is POSTed signed, with the headers APIMW sends (and X-APIMW-Test).
    Without --to, the API (`--sandbox`) delivers it to every webhook subscribed to TYPE.

    Examples:

      apimw trigger message.received --to http://localhost:3000/webhooks

      apimw trigger message.received --to http://localhost:3000/hooks --set data.text=hi

      apimw --sandbox trigger message.read
    """
    app_state = state(ctx)
    printer = app_state.printer
    key = read_secret(SecretOptions(), printer.warn, secret, secret_env, secret_file)
    if to is None and key is not None:
        raise UsageError(
            "--secret signs events sent with --to; the API signs with each webhook's own secret"
        )
    if to is not None:
        check_http_url(to, "--to")
        if not key:
            raise UsageError(
                "--to needs the webhook secret to sign with: --secret-file FILE, "
                "--secret-env VAR or --secret - (standard input)"
            )
    event = build_event(event_type, file, assignments)
    if to is not None:
        assert key is not None
        _send(printer, event, to, key, timeout)
    else:
        _emit(app_state, event)


def _send(printer: Printer, event: dict[str, Any], url: str, secret: str, timeout: float) -> None:
    import secrets

    from apimw_cli.conformance import headers_for
    from apimw_cli.receiver.replay import client, replay
    from apimw_cli.signing import sign

    body = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    delivery = f"dlv_test_{secrets.token_hex(10)}"
    # APIMW's delivery headers and the test marker, as `webhooks test` sends them.
    headers = headers_for(str(event["type"]), delivery, sign(body, secret))
    with client(timeout) as http:
        outcome = replay(http, url, delivery, body, headers, marked=False)  # a new event
    result = {
        "url": url,
        "type": event["type"],
        "delivery": delivery,
        "status": outcome.status,
        "ms": round(outcome.ms, 1),
        "error": outcome.error,
        "event": event,
    }
    ok = outcome.error is None and outcome.status is not None and 200 <= outcome.status < 300
    printer.data(
        result,
        lambda: printer.line(
            f"{event['type']}  {printer.out_glyphs.arrow} {url}  "
            f"{outcome.error or outcome.status}  {outcome.ms:.0f}ms"
        ),
    )
    if not ok:
        raise ApimwError(
            f"{url} answered {outcome.status}"
            if outcome.error is None
            else f"could not deliver to {url}: {outcome.error}",
            hint=_failure_hint(outcome.status, outcome.error, url),
        )


def _failure_hint(status: int | None, error: str | None, url: str) -> str:
    """A hint that fits the failure: the secret for a 401/403, the app's log for a 5xx."""
    if error is not None:
        if "refused" in error:
            return f"nothing accepted a connection at {url}: is your app running, on that port?"
        if "timed out" in error:
            return "your app did not answer in time (APIMW waits 5 seconds)"
        return "see your app's logs"
    if status in (401, 403):
        return "your app rejected the signature: does it use the secret given to --secret(-env)?"
    if status is not None and status >= 500:
        return f"your app failed ({status}): its logs say why"
    return "APIMW counts any answer but 200 within 5 seconds as a failure, and retries"


def _emit(app_state: AppState, event: dict[str, Any]) -> None:
    printer = app_state.printer
    try:
        with app_state.client() as client:
            response = client.request(
                "POST", "sandbox/events", json_body={"type": event["type"], "data": event["data"]}
            )
    except NotFoundError as error:
        raise NotFoundError(
            "this API cannot emit test events",
            status=error.status,
            code=error.code,
            request_id=error.request_id,
            hint="use --sandbox, or send the event yourself with --to URL --secret ...",
        ) from None
    data = response.data if isinstance(response.data, dict) else {}
    count = int(data.get("deliveries") or 0)
    result = {
        "event_id": data.get("event_id"),
        "type": event["type"],
        "deliveries": count,
        "data": data.get("data", event["data"]),
    }

    def human() -> None:
        printer.line(
            f"{event['type']} ({result['event_id']}) queued for {count} "
            f"webhook{'s' if count != 1 else ''}"
        )
        if count == 0:
            printer.warn(f"no active webhook is subscribed to {event['type']}")

    printer.data(result, human)
