"""apimw_cli/commands/params.py: every parameter of the command tree is coerced exactly as typer
coerces it (same value and type, or the same error in the same words), without building
typer's pydantic adapter for the values apimw's options ordinarily get.

These fail if typer changes the hooks or the semantics the lean coercion mirrors: then fix
params.py (or drop it, if typer no longer needs pydantic to coerce a str).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
import typer
import typer.main
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer._click.exceptions import BadParameter, UsageError
from typer._coercion import build_runtime_param

from apimw_cli.commands.params import (
    LeanCommand,
    LeanGroup,
    LeanOption,
    LeanRuntimeParam,
    WordArgument,
)
from apimw_cli.main import app


def _walk(command: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any, Any]]:
    ctx = typer.Context(command, info_name=path[-1] if path else "apimw")
    yield path, command, ctx
    for name in getattr(command, "list_commands", lambda _ctx: [])(ctx):
        sub = command.get_command(ctx, name)
        if sub is not None:
            yield from _walk(sub, (*path, name))


def _tree() -> list[tuple[tuple[str, ...], Any, Any]]:
    root = typer.main.get_command(app)
    # As when run: the root group makes its own parameters lean when it makes its context.
    root.make_context("apimw", ["config"], resilient_parsing=True)
    return list(_walk(root, ()))


TREE = _tree()
PARAMS = [
    (" ".join(("apimw", *path, param.name or "?")), param, ctx)
    for path, command, ctx in TREE
    for param in [*command.params, command.get_help_option(ctx)]
    if param is not None
]

SAMPLES: list[Any] = [
    "",
    "0",
    "1",
    "-1",
    "5",
    "20",
    "65535",
    "65536",
    "007",
    " 7",
    "+3",
    "1.5",
    "0.0005",
    "1e3",
    "nan",
    "inf",
    "1_000",
    "abc",
    "-",
    "30s",
    "2m",
    "1h",
    "json",
    "JSON",
    "table",
    "bash",
    "approved",
    "UTILITY",
    "message.received",
    "/",
    "/nonexistent/apimw-test",
    "x\0y",
    "\x1b[31mred",
    "é",
    "\udcff",
    True,
    False,
    0,
    7,
    2.5,
]


def _outcome(coerce: Any, value: Any, param: Any, ctx: Any) -> tuple[str, Any]:
    try:
        result = coerce(value, param=param, ctx=ctx)
    except (BadParameter, UsageError) as exc:
        return "error", (type(exc).__name__, exc.format_message())
    except (ValueError, TypeError) as exc:
        return "raised", (type(exc).__name__, str(exc))
    if hasattr(result, "close") and not isinstance(result, Path):
        result.close()  # an opened file (none today)
    return "value", (type(result), result)


def _values(param: Any, value: Any) -> Any:
    return (value,) if param.multiple or param.nargs == -1 else value


def _assert_same(param: Any, ctx: Any, value: Any) -> None:
    value = _values(param, value)
    lean = _outcome(param.get_runtime_param().coerce, value, param, ctx)
    theirs = _outcome(build_runtime_param(param.type_descriptor).coerce, value, param, ctx)
    assert lean == theirs, f"{param.name} {value!r}"


def test_every_parameter_and_command_is_lean() -> None:
    assert PARAMS, "no parameters found"
    plain = [name for name, p, _ in PARAMS if type(p) not in (LeanOption, WordArgument)]
    assert plain == []
    plain_commands = [p for p, c, _ in TREE if not isinstance(c, LeanCommand | LeanGroup)]
    assert plain_commands == []


@pytest.mark.parametrize(("name", "param", "ctx"), PARAMS, ids=[n for n, _, _ in PARAMS])
def test_coercion_matches_typer_on_every_sample(name: str, param: Any, ctx: Any) -> None:
    for value in [None, (), *SAMPLES]:
        _assert_same(param, ctx, value)
    for choice in _choices(param):
        _assert_same(param, ctx, choice)


def _choices(param: Any) -> list[Any]:
    annotation = param.type_descriptor.annotation
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return [*annotation, *(m.value for m in annotation), *(m.value.upper() for m in annotation)]
    return []


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(index=st.integers(0, len(PARAMS) - 1), text=st.text(max_size=30))
def test_coercion_matches_typer_on_any_text(index: int, text: str) -> None:
    _, param, ctx = PARAMS[index]
    _assert_same(param, ctx, text)


@settings(max_examples=200, deadline=None)
@given(
    index=st.integers(0, len(PARAMS) - 1),
    number=st.one_of(st.integers(-(10**20), 10**20), st.floats(allow_nan=True)),
)
def test_coercion_matches_typer_on_numbers_as_text(index: int, number: float) -> None:
    _, param, ctx = PARAMS[index]
    _assert_same(param, ctx, str(number))


def test_ordinary_values_never_reach_typers_pydantic_coercion(tmp_path: Path) -> None:
    """Defaults, and the usual spellings of each kind, take the fast path."""
    existing = tmp_path / "file"
    existing.write_text("x")
    usual: dict[Any, list[Any]] = {
        str: ["whk_1", "https://example.com/hooks", ""],
        int: ["1", "100"],
        float: ["1", "2.5"],
    }
    for name, param, ctx in PARAMS:
        assert isinstance(param.get_runtime_param(), LeanRuntimeParam), name
        descriptor = param.type_descriptor
        runtime = LeanRuntimeParam(  # a fresh one: another test may have used the param's
            parameter_info=descriptor.parameter_info,
            annotation=descriptor.annotation,
            descriptor=descriptor,
        )
        annotation = descriptor.annotation
        leaf = annotation.__args__[0] if descriptor.is_list else annotation
        values = [param.default] if param.default is not None else []
        if descriptor.parameter_info.parser is not None:
            values += ["30s", "2"]
        elif isinstance(leaf, type) and issubclass(leaf, Enum):
            values += [m.value for m in leaf]
        elif leaf is Path:
            info = descriptor.parameter_info
            values += [str(existing) if info.file_okay else str(tmp_path)]
            values += [] if info.exists else [str(tmp_path / "new")]
        else:
            values += usual.get(leaf, [])
        info = descriptor.parameter_info
        for value in values:
            if isinstance(value, str) and leaf in (int, float) and not info.parser:
                number = float(value)
                if (info.min is not None and number < info.min) or (
                    info.max is not None and number > info.max
                ):
                    continue
            runtime.coerce(_values(param, value), param=param, ctx=ctx)
        assert runtime.typer_param_built is False, f"{name} fell back to typer for {values}"


def test_a_refused_value_is_typers_error_in_typers_words() -> None:
    _, root, ctx = TREE[0]
    output = next(p for p in root.params if p.name == "output")
    with pytest.raises(BadParameter, match="'yaml' is not one of 'table', 'json'"):
        output.get_runtime_param().coerce("yaml", param=output, ctx=ctx)
    assert output.get_runtime_param().typer_param_built is True


def test_lean_classes_keep_typers_hooks() -> None:
    """The hooks params.py relies on: if typer renames them, this says so first."""
    assert callable(typer.core._TyperParameter.get_runtime_param)
    assert "get_runtime_param" in typer.core._TyperParameter.process_value.__code__.co_names
    assert callable(typer.core.TyperCommand.get_help_option)
    assert os.environ.get("PYDANTIC_DISABLE_PLUGINS") is None
