"""Tables in a pipe and on a narrow terminal (issue #16): no trailing spaces, ids and URLs never
folded or cut, other columns cut with an ellipsis first, a record layout when even that does
not fit, and `-o json` wherever data is shown."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner, Result

from apimw_cli.commands.common import AppState
from apimw_cli.main import app
from apimw_cli.output import Printer
from apimw_cli.output.tables import fit_widths
from apimw_cli.receiver.events import ReceiverConfig
from apimw_cli.receiver.server import run_in_thread as run_receiver
from apimw_cli.sandbox.server import RunningSandbox
from tests.support.cli import run
from tests.support.docs_api import API_KEY, API_SECRET, DocsApi

ANSI = re.compile(r"\x1b\[[0-9;]*m")
WEBHOOK_ID = "whk_01HZX3Q9V7K2M4N6P8R0S2T4V6"
URL = "https://hooks.example.com/apimw/receive/with/a/long/path"
WEBHOOK_COLUMNS = ["id", "url", "events", "status", "verified", "failures", "created"]
WEBHOOK_ROW = [WEBHOOK_ID, URL, "message.received, message.read", "active", "yes", "0", "today"]


@pytest.fixture(autouse=True)
def real_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """The suite runs with TERM=dumb, which rich takes as 80 columns whatever it is told."""
    monkeypatch.setenv("TERM", "xterm")


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def terminal(width: int) -> tuple[Printer, io.StringIO]:
    out = Tty()
    printer = Printer(stdout=out, stderr=io.StringIO(), no_color=True)
    printer.__dict__["out"] = Console(
        file=out, width=width, force_terminal=True, no_color=True, highlight=False
    )
    return printer, out


def lines(out: io.StringIO) -> list[str]:
    return ANSI.sub("", out.getvalue()).splitlines()


def assert_no_trailing_spaces(text: str) -> None:
    for line in ANSI.sub("", text).splitlines():
        assert line == line.rstrip(), f"trailing spaces: {line!r}"


def assert_on_one_line(text: str, *values: str) -> None:
    plain = ANSI.sub("", text)
    for value in values:
        assert any(value in line for line in plain.splitlines()), f"{value} folded or cut"


# --- the layout, through Printer -----------------------------------------------------------------


def test_piped_table_is_one_row_per_line_aligned_with_no_trailing_spaces() -> None:
    out = io.StringIO()
    long_note = "x" * 300
    Printer(stdout=out).table(
        ["check", "result", "notes"], [["a", "pass", ""], ["b", "fail", long_note]]
    )
    assert out.getvalue().splitlines() == [
        "CHECK  RESULT  NOTES",
        "a      pass",
        f"b      fail    {long_note}",  # nothing cut or wrapped in a pipe
    ]


def test_piped_fields_have_no_trailing_spaces() -> None:
    out = io.StringIO()
    Printer(stdout=out).fields({"id": WEBHOOK_ID, "secret": "", "url": URL}, title="webhook")
    assert out.getvalue().splitlines() == [
        "webhook",
        f"id      {WEBHOOK_ID}",
        "secret",
        f"url     {URL}",
    ]


def test_wide_terminal_shows_the_whole_table() -> None:
    printer, out = terminal(200)
    printer.table(WEBHOOK_COLUMNS, [WEBHOOK_ROW])
    assert "…" not in out.getvalue()
    assert_on_one_line(out.getvalue(), *WEBHOOK_ROW)


def test_narrower_terminal_cuts_other_columns_before_ids_and_urls() -> None:
    printer, out = terminal(150)
    printer.table(WEBHOOK_COLUMNS, [WEBHOOK_ROW])
    text = out.getvalue()
    assert "…" in text  # the events column gave way
    assert_on_one_line(text, f"{WEBHOOK_ID}   {URL}")
    assert all(len(line) <= 150 for line in lines(out))


def test_at_60_columns_rows_become_records_with_ids_whole() -> None:
    printer, out = terminal(60)
    printer.table(WEBHOOK_COLUMNS, [WEBHOOK_ROW, [f"{WEBHOOK_ID}2", URL, "", "", "", "", ""]])
    shown = lines(out)
    assert shown[0] == f"id        {WEBHOOK_ID}"
    assert f"url       {URL}" in shown
    assert "events    message.received, message.read" in shown
    assert "" in shown  # a blank line between records
    assert f"id        {WEBHOOK_ID}2" in shown
    assert "events" in shown  # an empty value: the name alone, no trailing spaces
    assert_no_trailing_spaces(out.getvalue())


@pytest.mark.parametrize(
    ("columns", "row"),
    [
        (["name", "value"], ["X-APIMW-Signature", "t=1700000000,v1=" + "ab" * 32]),
        (["target", "status", "ms", "error"], [URL, "502", "12.5", "Bad Gateway from upstream"]),
        (
            ["id", "time", "type", "status", "signature", "forwarded"],
            ["evt_0123456789abcdef", "08:00:01", "message.received", "200", "valid", "200"],
        ),
        (
            ["name", "language", "status", "category", "params", "body"],
            ["order_confirmation", "en_US", "APPROVED", "UTILITY", "3", "Hi {{1}}, " * 10],
        ),
        (
            ["check", "result", "status", "latency", "notes"],
            ["signature_rejected", "fail", "200", "12 ms", "accepted a bad signature " * 5],
        ),
    ],
)
def test_every_table_fits_60_columns_without_folding_ids(
    columns: list[str], row: list[str]
) -> None:
    printer, out = terminal(60)
    printer.table(columns, [row])
    assert_on_one_line(out.getvalue(), row[0])
    assert all(len(line) <= 60 for line in lines(out)) or any(
        line.startswith(columns[0]) for line in lines(out)
    )


def test_fit_widths_keeps_whole_columns_and_shares_the_rest() -> None:
    assert fit_widths([10, 20], [True, False], [6, 6], 40) == [10, 20]
    assert fit_widths([10, 20, 8], [True, False, False], [6, 6, 6], 26) == [10, 8, 8]
    assert fit_widths([10, 20, 8], [True, False, False], [6, 6, 6], 30) == [10, 12, 8]
    assert fit_widths([10, 20, 8], [True, False, False], [6, 6, 6], 21) is None
    assert fit_widths([30, 20], [True, False], [6, 6], 35) is None  # the id alone fills it


# --- the commands -----------------------------------------------------------------------------


@pytest.fixture
def docs() -> DocsApi:
    return DocsApi()


def docs_run(docs: DocsApi, *args: str) -> Result:
    env = {"APIMW_API_KEY": API_KEY, "APIMW_API_SECRET": API_SECRET}
    obj = AppState(transport=docs.transport())
    return CliRunner().invoke(app, list(args), obj=obj, env=env, catch_exceptions=False)


@pytest.fixture
def narrow(monkeypatch: pytest.MonkeyPatch) -> Iterator[Tty]:
    """Every Printer writes to a 60-column terminal."""
    out = Tty()
    console = Console(file=out, width=60, force_terminal=True, no_color=True, highlight=False)
    monkeypatch.setattr(Printer, "out", property(lambda self: console))
    monkeypatch.setattr(Printer, "_out_file", property(lambda self: out))  # JSON, plain text
    yield out


def printed_json(out: Tty) -> Any:
    """What a command printed with `-o json` (the patched console took it); `out` is emptied."""
    data = json.loads(out.getvalue())
    out.seek(0)
    out.truncate()
    return data


def test_webhooks_list_narrow(docs: DocsApi, narrow: Tty) -> None:
    assert docs_run(docs, "-o", "json", "webhooks", "list").exit_code == 0
    ids = [w["id"] for w in printed_json(narrow)]
    assert docs_run(docs, "webhooks", "list").exit_code == 0
    text = narrow.getvalue()
    assert_no_trailing_spaces(text)
    assert_on_one_line(text, *ids)
    assert any(line.startswith("id ") for line in lines(narrow))  # record layout at 60


def test_webhooks_list_and_inspect_piped(docs: DocsApi) -> None:
    listed = json.loads(docs_run(docs, "-o", "json", "webhooks", "list").stdout)
    piped = docs_run(docs, "webhooks", "list")
    assert piped.exit_code == 0, piped.stderr
    assert_no_trailing_spaces(piped.stdout)
    rows = piped.stdout.splitlines()
    assert rows[0].startswith("ID  ")
    assert [row.split()[0] for row in rows[1:]] == [w["id"] for w in listed]
    inspected = docs_run(docs, "webhooks", "inspect", listed[0]["id"])
    assert inspected.exit_code == 0, inspected.stderr
    assert_no_trailing_spaces(inspected.stdout)
    assert_on_one_line(inspected.stdout, listed[0]["id"], listed[0]["url"])
    as_json = json.loads(
        docs_run(docs, "-o", "json", "webhooks", "inspect", listed[0]["id"]).stdout
    )
    assert as_json["id"] == listed[0]["id"]


def test_events_list_piped_narrow_and_json(narrow: Tty) -> None:
    assert run("-o", "json", "events", "list").exit_code == 0
    types = [row["type"] for row in printed_json(narrow)]
    assert run("events", "list").exit_code == 0
    assert_no_trailing_spaces(narrow.getvalue())
    assert_on_one_line(narrow.getvalue(), *types)


def test_events_list_piped() -> None:
    result = run("events", "list")
    assert result.exit_code == 0, result.stderr
    assert_no_trailing_spaces(result.stdout)
    assert result.stdout.splitlines()[0].split() == ["TYPE", "DESCRIPTION", "DATA"]


def test_messages_templates_piped_and_json(running_sandbox: RunningSandbox) -> None:
    found: list[dict[str, Any]] = json.loads(
        run("--sandbox", "-o", "json", "messages", "templates").stdout
    )
    assert found
    piped = run("--sandbox", "messages", "templates")
    assert piped.exit_code == 0, piped.stderr
    assert_no_trailing_spaces(piped.stdout)
    assert [line.split()[0] for line in piped.stdout.splitlines()[1:]] == [t["name"] for t in found]


def test_webhooks_test_results_piped_one_check_per_line() -> None:
    secret = "whsec_tables_test"
    args = ("webhooks", "test", "--secret", secret, "--event", "message.received")
    with run_receiver(ReceiverConfig(port=0, secrets=(secret,)), lambda _: None) as receiver:
        url = receiver.endpoint
        checks = [row["check"] for row in json.loads(run("-o", "json", *args, "--url", url).stdout)]
        piped = run(*args, "--url", url)
    assert piped.exit_code == 0, piped.stderr
    assert_no_trailing_spaces(piped.stdout)
    rows = [line for line in piped.stdout.splitlines() if line]
    assert rows[0].split()[:2] == ["CHECK", "RESULT"]
    assert [row.split()[0] for row in rows[1 : len(checks) + 1]] == checks


@pytest.mark.parametrize(
    "command",
    [
        ("config", "path"),
        ("config", "show"),
        ("config", "profiles"),
        ("config", "get", "output"),
        ("events", "list"),
        ("events", "show", "message.received"),
        ("sandbox", "credentials"),
    ],
    ids=" ".join,
)
def test_data_commands_print_json(command: tuple[str, ...]) -> None:
    result = run("-o", "json", *command)
    assert result.exit_code == 0, result.stderr
    json.loads(result.stdout)  # all of stdout is one JSON document


def test_webhooks_inspect_narrow(docs: DocsApi, narrow: Tty) -> None:
    assert docs_run(docs, "-o", "json", "webhooks", "list").exit_code == 0
    first = printed_json(narrow)[0]
    assert docs_run(docs, "webhooks", "inspect", first["id"]).exit_code == 0
    assert_no_trailing_spaces(narrow.getvalue())
    assert_on_one_line(narrow.getvalue(), first["id"], first["url"])


def test_messages_templates_narrow(running_sandbox: RunningSandbox, narrow: Tty) -> None:
    assert run("--sandbox", "-o", "json", "messages", "templates").exit_code == 0
    names = [t["name"] for t in printed_json(narrow)]
    assert run("--sandbox", "messages", "templates").exit_code == 0
    assert_no_trailing_spaces(narrow.getvalue())
    assert_on_one_line(narrow.getvalue(), *names)
    # Six columns do not fit 60 cells even cut: one record per template, values whole.
    assert f"name      {names[0]}" in lines(narrow)


def test_empty_fields_and_tables_print_nothing_but_headers() -> None:
    out = io.StringIO()
    printer = Printer(stdout=out)
    printer.fields({})
    printer.table(["id", "url"], [])
    assert out.getvalue() == "ID  URL\n"
    narrow, shown = terminal(60)
    narrow.fields({})
    narrow.table(["id", "url"], [])
    assert_no_trailing_spaces(shown.getvalue())
