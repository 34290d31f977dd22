"""Every `--help` reads like a well-made CLI's: metavars in words, whole one-line summaries,
choices listed for options with a fixed set of values, and one meaning per time option.

The command paths come from the live command tree (as completions/generate.py reads it), so a
new command is checked without being listed here. Help is rendered at 80 columns, where Click
shortens the summaries of a group's command list.
"""

from __future__ import annotations

import inspect
import re
from functools import cache
from typing import Any

import pytest
import typer
import typer.main

from apimw_cli.durations import format_duration, parse_duration, positive_duration
from apimw_cli.main import app
from tests.support.cli import run

COLUMNS = "80"

# What typer shows for a parameter without a metavar: Python, not words.
PYTHON_METAVARS = (
    "<str>",
    "<int",
    "<float",
    "<list",
    "<path>",
    "<file>",
    "<dir>",
    "<bool>",
    "<datetime>",
    "range>",
)

# Options whose values are a fixed set: each must be a choice (listed in help, completed).
FIXED_CHOICES = {
    ("apimw", "--output"),
    ("apimw listen", "--format"),
    ("apimw messages templates", "--status"),
    ("apimw messages templates", "--category"),
}


@cache
def tree() -> dict[str, tuple[Any, Any]]:
    """Command path ("apimw webhooks test") -> (its Click command, a context for it)."""
    found: dict[str, tuple[Any, Any]] = {}

    def walk(command: Any, path: tuple[str, ...], parent: Any) -> None:
        ctx = typer.Context(command, parent=parent, info_name=path[-1], **command.context_settings)
        found[" ".join(path)] = (command, ctx)
        if hasattr(command, "list_commands"):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                if sub is not None and not sub.hidden:
                    walk(sub, (*path, name), ctx)

    walk(typer.main.get_command(app), ("apimw",), None)
    return found


PATHS = sorted(tree())
GROUPS = [p for p in PATHS if hasattr(tree()[p][0], "list_commands")]


@cache
def help_text(path: str) -> str:
    result = run(*path.split()[1:], "--help", env={"COLUMNS": COLUMNS})
    assert result.exit_code == 0, result.output
    return result.stdout


def params(path: str) -> list[Any]:
    command, _ = tree()[path]
    return [p for p in command.params if not getattr(p, "hidden", False)]


def test_the_walk_finds_the_whole_tree() -> None:
    assert {"apimw", "apimw listen", "apimw webhooks test", "apimw events replay"} <= set(PATHS)
    assert len(PATHS) > 30


@pytest.mark.parametrize("path", PATHS)
def test_metavars_are_words_not_python_types(path: str) -> None:
    text = help_text(path)
    found = [artefact for artefact in PYTHON_METAVARS if artefact in text]
    assert not found, f"`{path} --help` shows {found}:\n{text}"


@pytest.mark.parametrize("path", PATHS)
def test_usage_line_shows_arguments_plainly(path: str) -> None:
    usage = help_text(path).splitlines()[0]
    assert usage.startswith(f"Usage: {path} ")
    assert "{" not in usage and "[[" not in usage, usage


@pytest.mark.parametrize("path", PATHS)
def test_every_value_has_a_metavar_in_words(path: str) -> None:
    """The left column of each option and argument: `--url URL`, `ID`, `--format <a|b>`."""
    _, ctx = tree()[path]
    for param in params(path):
        record = param.get_help_record(ctx)
        if record is None:
            continue
        left = record[0]
        assert not any(a in left for a in PYTHON_METAVARS), f"{path}: {left}"
        assert "{" not in left and "[[" not in left, f"{path}: {left}"


def _summary_rows(text: str) -> dict[str, str]:
    """A group's `Commands:` section: name -> its summary, wrapped lines joined."""
    rows: dict[str, str] = {}
    section = text.split("\nCommands:\n", 1)[1]
    last = ""
    for line in section.splitlines():
        if not line.strip():
            break
        match = re.match(r"  (\S+)\s{2,}(.*)$", line)
        if match is not None:
            last = match[1]
            rows[last] = match[2].strip()
        else:
            rows[last] += " " + line.strip()
    return rows


def _first_paragraph(command: Any) -> str:
    if command.short_help:
        return " ".join(command.short_help.split())
    help_text = inspect.cleandoc(command.help or "")
    return " ".join(help_text.split("\n\n")[0].split())


@pytest.mark.parametrize("path", GROUPS)
def test_command_summaries_are_whole_sentences(path: str) -> None:
    command, ctx = tree()[path]
    rows = _summary_rows(help_text(path))
    names = [n for n in command.list_commands(ctx) if not command.get_command(ctx, n).hidden]
    assert sorted(rows) == sorted(names)
    for name, summary in rows.items():
        where = f"`{path} --help`, {name}: {summary!r}"
        assert summary.endswith(".") and not summary.endswith("..."), where
        assert summary.count("(") == summary.count(")"), where
        sub = command.get_command(ctx, name)
        assert summary == _first_paragraph(sub), f"{where} is not its docstring's first line"


def test_a_sentence_with_e_g_in_it_is_not_cut_there() -> None:
    """Click ends a summary at the first '. ': "…byte for byte (e.g." was one."""
    for path in GROUPS:
        for summary in _summary_rows(help_text(path)).values():
            assert "e.g" not in summary and "i.e" not in summary, summary


@pytest.mark.parametrize(("path", "option"), sorted(FIXED_CHOICES))
def test_options_with_a_fixed_set_of_values_are_choices(path: str, option: str) -> None:
    (param,) = [p for p in params(path) if option in p.opts]
    assert param.type_descriptor.is_choice, f"{path} {option} takes free text"


@pytest.mark.parametrize("path", PATHS)
def test_every_choice_option_lists_its_choices(path: str) -> None:
    _, ctx = tree()[path]
    for param in params(path):
        desc = getattr(param, "type_descriptor", None)
        if desc is None or not desc.is_choice:
            continue
        record = param.get_help_record(ctx)
        assert record is not None
        shown = " ".join(record).lower()
        for choice in desc.choices:
            value = str(getattr(choice, "value", choice)).lower()
            assert value in shown, f"{path} {param.opts}: {value!r} not in {record}"


def test_check_names_in_webhooks_test_help_are_the_suite() -> None:
    """--only/--skip take comma-separated names, so they list the suite in their help."""
    from apimw_cli.commands.webhooks.conformance_test import CHECK_NAMES
    from apimw_cli.conformance import CHECKS

    assert CHECK_NAMES.split(", ") == list(CHECKS)
    text = " ".join(help_text("apimw webhooks test").split())
    assert text.count(CHECK_NAMES) >= 2


def test_respond_lists_its_modes() -> None:
    text = " ".join(help_text("apimw listen").split())
    assert "--respond <ack|passthrough|CODE>" in text


MAIN_COMMANDS = [
    "apimw listen",
    "apimw webhooks register",
    "apimw webhooks list",
    "apimw webhooks test",
    "apimw events replay",
    "apimw sandbox",
    "apimw messages send",
    "apimw trigger",
]


@pytest.mark.parametrize("path", MAIN_COMMANDS)
def test_main_commands_have_examples(path: str) -> None:
    text = help_text(path)
    assert "\n  Examples:\n" in text, text
    examples = text.split("\n  Examples:\n", 1)[1].split("\n\n")
    lines = [e.strip() for e in examples if e.strip().startswith("apimw ")]
    assert len(lines) >= 2, text
    for line in lines:  # each names its own command
        words = path.split()[1:]
        assert all(w in line.split() for w in words), line


@pytest.mark.parametrize("path", MAIN_COMMANDS)
def test_examples_parse(path: str) -> None:
    """Each example's options exist: `--help` appended to it still parses (exit 0)."""
    text = help_text(path)
    examples = text.split("\n  Examples:\n", 1)[1].split("\n\n")
    for example in (e.strip() for e in examples if e.strip().startswith("apimw ")):
        words = example.split("|")[0].split()[1:]
        words = [w.strip("'\"") for w in words]
        result = run(*words, "--help")
        assert result.exit_code == 0, f"{example}: {result.output}"


# --- durations: one meaning for every time option ----------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30", 30.0), ("1.5", 1.5), ("30s", 30.0), ("2m", 120.0), ("1h30m", 5400.0), (" 90s ", 90.0)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "2x", "-1", "m"])
def test_not_durations(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_a_timeout_must_be_above_zero() -> None:
    with pytest.raises(ValueError, match="more than 0"):
        positive_duration("0s")
    assert positive_duration(30.0) == 30.0  # an option's default is already seconds


@pytest.mark.parametrize(("given", "shown"), [("2m", "120.0"), ("45", "45.0"), ("1.5s", "1.5")])
def test_the_global_timeout_takes_a_duration(given: str, shown: str) -> None:
    result = run("--timeout", given, "config", "get", "timeout")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == shown


@pytest.mark.parametrize("given", ["soon", "0"])
def test_a_bad_global_timeout_is_a_usage_error(given: str) -> None:
    result = run("--timeout", given, "config", "get", "timeout")
    assert result.exit_code == 2
    assert "--timeout" in result.stderr


TIME_OPTIONS = [
    ("apimw", "--timeout"),
    ("apimw listen", "--timeout"),
    ("apimw listen", "--delay"),
    ("apimw listen", "--forward-timeout"),
    ("apimw events replay", "--timeout"),
    ("apimw trigger", "--timeout"),
    ("apimw sandbox", "--token-ttl"),
]


@pytest.mark.parametrize(("path", "option"), TIME_OPTIONS)
def test_time_options_say_duration(path: str, option: str) -> None:
    _, ctx = tree()[path]
    (param,) = [p for p in params(path) if option in p.opts]
    left, right = param.get_help_record(ctx)
    assert left.endswith("DURATION"), left
    assert "a bare number is seconds" in right, right


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0s"), (0.5, "0.5s"), (30, "30s"), (90, "1m30s"), (3600, "1h")]
)
def test_defaults_are_written_as_durations(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("path", "option", "default"),
    [
        ("apimw listen", "--forward-timeout", "30s"),
        ("apimw events replay", "--timeout", "30s"),
        ("apimw trigger", "--timeout", "10s"),
        ("apimw sandbox", "--token-ttl", "1h"),
    ],
)
def test_time_defaults_show_as_durations(path: str, option: str, default: str) -> None:
    _, ctx = tree()[path]
    (param,) = [p for p in params(path) if option in p.opts]
    _, right = param.get_help_record(ctx)
    assert right.endswith(f"[default: {default}]"), right


@pytest.mark.parametrize("path", PATHS)
def test_secret_file_always_reads_a_secret(path: str) -> None:
    """--secret-file reads a secret wherever it is offered; writing one is --save-secret."""
    _, ctx = tree()[path]
    for param in params(path):
        if "--secret-file" in param.opts:
            _, right = param.get_help_record(ctx)
            assert right.startswith(("Read", "Take", "Sign with")), f"{path}: {right}"
