"""The sandbox's log lines: every record kind it emits has a line, and outside text stays text."""

from __future__ import annotations

import io
import json

from apimw_cli.output import Printer
from apimw_cli.output.sandbox_log import SandboxLog


def rendered(kind: str, fields: dict[str, object], output: str = "table") -> str:
    out = io.StringIO()
    SandboxLog(Printer(output=output, stdout=out, stderr=io.StringIO()))(kind, fields)
    return out.getvalue()


def test_a_worker_fault_has_a_line_saying_the_sandbox_carries_on() -> None:
    line = rendered("error", {"where": "delivery worker", "error": "boom\x1b[31m"})
    assert "delivery worker: boom" in line and "carries on" in line
    assert "\x1b" not in line  # the reason came from outside: escaped, never a terminal code


def test_a_worker_fault_is_an_ndjson_record_with_json_output() -> None:
    record = json.loads(rendered("error", {"where": "delivery worker", "error": "x"}, "json"))
    assert (record["record"], record["where"], record["error"]) == ("error", "delivery worker", "x")
