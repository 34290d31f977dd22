"""`apimw messages`: send a WhatsApp text or template message, follow its status, list the
templates (real API or sandbox)."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any

import typer

from apimw_cli.commands.common import state
from apimw_cli.errors import ApiError, NotFoundError, UsageError, ValidationError

app = typer.Typer(
    help="Send WhatsApp messages and check their status.",
    no_args_is_help=True,
    rich_markup_mode=None,
    add_completion=False,
)

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
MAX_TEXT = 4096
DEFAULT_LANGUAGE = "en"


class TemplateStatus(StrEnum):  # the docs' filter values
    APPROVED = "APPROVED"
    PENDING = "PENDING"
    REJECTED = "REJECTED"


class TemplateCategory(StrEnum):  # the docs' list
    TRANSACTIONAL = "TRANSACTIONAL"
    MARKETING = "MARKETING"
    OTP = "OTP"
    UTILITY = "UTILITY"


REENGAGEMENT = "131047"  # WhatsApp: a text outside the 24-hour customer service window
PLACEHOLDER = re.compile(r"\{\{\s*(\d+)\s*\}\}")


@app.command("send")
def send(
    ctx: typer.Context,
    to: Annotated[
        str, typer.Option("--to", metavar="PHONE", help="Recipient, E.164 (+14155550123).")
    ],
    text: Annotated[
        str | None,
        typer.Option("--text", metavar="TEXT", help="Message text ('-' reads standard input)."),
    ] = None,
    template: Annotated[
        str | None,
        typer.Option("--template", metavar="NAME", help="Send this approved template instead."),
    ] = None,
    lang: Annotated[
        str | None,
        typer.Option("--lang", metavar="CODE", help="The template's language [default: en]."),
    ] = None,
    params: Annotated[
        list[str] | None,
        typer.Option(
            "--param", metavar="VALUE", help="Fills the template body's next {{n}} (repeatable)."
        ),
    ] = None,
    preview_url: Annotated[
        bool | None,
        typer.Option("--preview-url/--no-preview-url", help="Let WhatsApp preview a link."),
    ] = None,
) -> None:
    """Send a text or a template message; its message.* events follow.

    A text reaches only a customer who wrote within the last 24 hours (WhatsApp's customer
    service window); otherwise it is accepted, then fails with 131047. Open the conversation
    with a template: `apimw messages templates` lists them. In the sandbox, a number ending in
    0000 fails on purpose (message.failed).

    Examples:

      apimw --sandbox messages send --to +14155550123 --text "Your order shipped"

      apimw --sandbox messages send --to +14155550123 --template hello_world
    """
    from apimw_cli.api import messages

    if not E164.match(to):
        raise UsageError(
            f"--to {to!r} is not an E.164 phone number",
            hint="use + and the country code, digits only: +14155550123",
        )
    app_state = state(ctx)
    if template is not None:
        _check_template_options(text, preview_url)
        language = lang or DEFAULT_LANGUAGE
        with app_state.client() as client:
            try:
                sent = messages.send_template(client, to, template, language, params or [])
            except (NotFoundError, ValidationError) as refused:
                raise _with_templates_hint(refused) from None
        what = f" (template {template}, {language})"
    else:
        if params or lang is not None:
            raise UsageError(
                f"{'--param' if params else '--lang'} goes with --template",
                hint="a text has no placeholders: pass --template NAME to send a template",
            )
        message = _text_to_send(text)
        with app_state.client() as client:
            sent = messages.send(client, to, message, preview_url=preview_url)
        what = ""
    printer = app_state.printer

    def human() -> None:
        printer.success(f"sent {sent.get('message_id')} to {sent.get('to', to)}{what}")
        printer.line(str(sent.get("message_id", "")))

    printer.data(sent, human)


def _with_templates_hint(refused: NotFoundError | ValidationError) -> ApiError:
    """The API's refusal of a template send, pointing at the command that lists them."""
    hint = refused.hint or (
        "`apimw messages templates` lists the templates, their languages, their status"
        " and how many --param each takes"
    )
    return type(refused)(
        refused.message,
        status=refused.status,
        code=refused.code,
        request_id=refused.request_id,
        hint=hint,
    )


def _check_template_options(text: str | None, preview_url: bool | None) -> None:
    if text is not None:
        raise UsageError(
            "--text and --template both given: send one or the other",
            hint="a template brings its own text; fill its placeholders with --param",
        )
    if preview_url is not None:
        raise UsageError("--preview-url applies to texts, not templates")


def _text_to_send(text: str | None) -> str:
    """The text: --text, or standard input (--text -, or piped without --text)."""
    import sys

    nothing = "pass --text TEXT (--text - reads standard input), or --template NAME"
    if text is None or text == "-":
        if text is None and sys.stdin.isatty():
            raise UsageError("nothing to send", hint=nothing)
        text = sys.stdin.read().rstrip("\n")
    if not text.strip():
        raise UsageError("the message text is empty", hint=nothing)
    if len(text) > MAX_TEXT:
        raise UsageError(f"the message has {len(text)} characters; APIMW allows {MAX_TEXT}")
    return text


@app.command("templates")
def list_templates(
    ctx: typer.Context,
    status_filter: Annotated[
        TemplateStatus | None,
        typer.Option("--status", help="Only templates in this state.", case_sensitive=False),
    ] = None,
    category: Annotated[
        TemplateCategory | None,
        typer.Option("--category", help="Only templates of this kind.", case_sensitive=False),
    ] = None,
) -> None:
    """List the message templates and the --param values they take.

    Every page of them, filtered by --status and --category.

    Examples:

      apimw --sandbox messages templates --status approved

      apimw -o json messages templates --category marketing
    """
    from apimw_cli.api import messages

    wanted = {"status": status_filter, "category": category}
    filters = {k: v.value for k, v in wanted.items() if v is not None}
    app_state = state(ctx)
    printer = app_state.printer
    with app_state.client() as client:
        found = messages.templates(client, **filters)

    def human() -> None:
        if not found:
            printer.info("no templates" + (" match" if filters else " yet"))
            return
        printer.table(
            ["name", "language", "status", "category", "params", "body"],
            [_template_row(t) for t in found],
        )

    printer.data(found, human)


def _template_row(template: dict[str, Any]) -> list[Any]:
    components = template.get("components")
    body = ""
    for component in components if isinstance(components, list) else []:
        if isinstance(component, dict) and str(component.get("type", "")).upper() == "BODY":
            body = str(component.get("text", ""))
    taken = max((int(n) for n in PLACEHOLDER.findall(body)), default=0)
    fields = ("name", "language", "status", "category")
    return [*(str(template.get(f, "")) for f in fields), taken, body]


@app.command("status")
def status(
    ctx: typer.Context,
    message_id: Annotated[str, typer.Argument(metavar="MESSAGE_ID", help="wamid.… id.")],
) -> None:
    """Show a message's status and timestamps (sent, delivered, read)."""
    from apimw_cli.api import messages

    app_state = state(ctx)
    printer = app_state.printer
    with app_state.client() as client:
        data = messages.status(client, message_id)
    stamps: dict[str, Any] = data.get("timestamps") or {}

    def human() -> None:
        fields = {
            "message": data.get("message_id"),
            "to": data.get("to"),
            "type": data.get("type"),
            **({"template": data["template"]} if data.get("template") else {}),
            "status": data.get("status"),
            "sent": stamps.get("sent"),
            "delivered": stamps.get("delivered"),
            "read": stamps.get("read"),
        }
        error = data.get("error")
        if isinstance(error, dict):
            fields["error"] = f"{error.get('code')}: {error.get('message')}"
        printer.fields(fields)
        if isinstance(error, dict) and str(error.get("code")) == REENGAGEMENT:
            printer.info(
                "hint: the customer has not written in the last 24 hours; open the conversation"
                " with a template (`apimw messages templates`, then send --template NAME)"
            )

    printer.data(data, human)
