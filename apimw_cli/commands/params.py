"""typer's parameters, coerced without pydantic for the kinds of values apimw's options take.

typer 0.29 coerces every parameter that is not a flag through a pydantic TypeAdapter, built the
first time the parameter is processed, even when its value is None. The root's --profile,
--api-base, --output and --timeout are processed before any subcommand runs or prints its help,
so every command and every help page but the root's imported pydantic (~75 ms, more than typer
itself). There is no annotation or public option that avoids it.

So, in this one place, apimw's parameters get a runtime coercion of their own (typer's hook:
`_TyperParameter.get_runtime_param`): values of the kinds apimw uses (str, int and float within
their bounds, a parser's result, an Enum member, a Path, lists of those) are coerced in plain
Python, with typer's own helpers where it has them; anything else, and every value the fast
path would refuse, goes to typer's coercion, so errors and their wording stay typer's.
tests/test_cli_params.py checks that both agree on every parameter of the command tree, and
fails if the hooks used here change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, get_args

from typer._click import Context
from typer._click.exceptions import BadParameter
from typer._coercion import RuntimeParam, TypeDescriptor, build_runtime_param
from typer._param_types import coerce_cli_choice, coerce_cli_path, routes_to_path
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption, _TyperParameter

# The spellings whose meaning is beyond doubt; anything else (" 7", "1e3", "0x1f", "007")
# goes to typer, which accepts or refuses it in its own words.
_INT = re.compile(r"-?(0|[1-9][0-9]{0,15})")
_FLOAT = re.compile(r"-?(0|[1-9][0-9]{0,15})(\.[0-9]{1,15})?")


class _Slow(Exception):
    """The fast path cannot vouch for this value: typer's coercion decides."""


@dataclass(frozen=True)
class LeanRuntimeParam(RuntimeParam):
    """typer's RuntimeParam (None and multi-value handling stay typer's), coercing the value
    itself without pydantic when it can, and through typer's own coercion otherwise."""

    descriptor: TypeDescriptor
    _typer: list[RuntimeParam] = field(default_factory=list, compare=False, repr=False)

    def _coerce_value(self, value: Any, param: _TyperParameter, ctx: Context) -> Any:
        try:
            return fast_value(self.descriptor, value, param, ctx)
        except _Slow:
            return self.typer_param()._coerce_value(value, param=param, ctx=ctx)

    @property
    def typer_param_built(self) -> bool:
        """Did a value need typer's own coercion? (For tests: the fast path's reach.)"""
        return bool(self._typer)

    def typer_param(self) -> RuntimeParam:
        """typer's own coercion for this parameter (imports pydantic), built once."""
        if not self._typer:
            self._typer.append(build_runtime_param(self.descriptor))
        return self._typer[0]


def fast_value(descriptor: TypeDescriptor, value: Any, param: Any, ctx: Any) -> Any:
    """`value` coerced as typer would, or _Slow when typer must decide."""
    if descriptor.is_file or descriptor.parameter_info.clamp:
        raise _Slow
    annotation = descriptor.annotation
    if descriptor.is_list:
        if not isinstance(value, list | tuple):
            raise _Slow
        (item_type,) = get_args(annotation)
        return [_leaf(descriptor, item_type, item, param, ctx) for item in value]
    return _leaf(descriptor, annotation, value, param, ctx)


def _leaf(descriptor: TypeDescriptor, annotation: Any, value: Any, param: Any, ctx: Any) -> Any:
    info = descriptor.parameter_info
    if info.parser is not None:
        try:
            return info.parser(value)
        except Exception:
            raise _Slow from None  # typer calls it again and words the error
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        try:
            return coerce_cli_choice(
                value, choices=list(annotation), case_sensitive=info.case_sensitive, ctx=ctx
            )
        except ValueError:
            raise _Slow from None
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise _Slow
    if annotation is int or annotation is float:
        return _number(annotation, value, info.min, info.max)
    if annotation is str:
        if isinstance(value, str):
            return value
        raise _Slow
    if routes_to_path(annotation, info):
        return _path(annotation, value, info, param, ctx)
    raise _Slow


def _number(kind: type[Any], value: Any, low: float | None, high: float | None) -> Any:
    if isinstance(value, bool):
        raise _Slow
    if isinstance(value, str):
        if not (_INT if kind is int else _FLOAT).fullmatch(value):
            raise _Slow
        number = kind(value)
    elif isinstance(value, int) or (kind is float and isinstance(value, float)):
        number = kind(value)
    else:
        raise _Slow
    if (low is not None and number < low) or (high is not None and number > high):
        raise _Slow  # out of range: typer's message names the bounds
    return number


def _path(annotation: Any, value: Any, info: Any, param: Any, ctx: Any) -> Any:
    path_type = info.path_type
    if path_type is None and isinstance(annotation, type) and issubclass(annotation, Path):
        path_type = annotation
    if isinstance(path_type, type) and issubclass(path_type, Path):
        if not isinstance(value, str) or not value or "\0" in value:
            raise _Slow
        value = path_type(value)  # what typer's pydantic TypeAdapter(Path) makes of a str
    elif path_type not in (None, str, bytes):
        raise _Slow
    try:
        return coerce_cli_path(value, info, path_type=path_type, param=param, ctx=ctx)
    except BadParameter:
        raise _Slow from None  # does not exist, is a directory, ...: typer's words


class _Lean(_TyperParameter):
    """Mixed into typer's parameter classes: coercion without pydantic where it can."""

    def get_runtime_param(self) -> RuntimeParam:
        if self._runtime_param is None:
            descriptor = self.type_descriptor
            self._runtime_param = LeanRuntimeParam(
                parameter_info=descriptor.parameter_info,
                annotation=descriptor.annotation,
                descriptor=descriptor,
            )
        return self._runtime_param


class LeanOption(_Lean, TyperOption):
    pass


class WordArgument(_Lean, TyperArgument):
    """An argument shown as its metavar alone: typer writes `{NAME}` and `[[ID]]` in usage
    lines and `NAME <str>` in help, which read as Python rather than as a CLI's."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return super().display_type_rich(ctx) if self.type_descriptor.is_choice else None

    def _usage_display_name(self) -> str:
        name = self.display_name_raw + ("..." if self.nargs != 1 else "")
        return name if self.required else f"[{name}]"


_LEAN_PARAMS: dict[type[Any], type[Any]] = {TyperOption: LeanOption, TyperArgument: WordArgument}


def _lean_help(option: Any) -> Any:
    """A command's --help option, which click makes on first use, lean too: its value is None
    unless given, so typer would coerce it, through pydantic."""
    if type(option) is TyperOption:
        option.__class__ = LeanOption
    return option


# (No mixin: CPython refuses `__class__ =` to a class whose first base is a mixin.)
class LeanCommand(TyperCommand):
    def get_help_option(self, ctx: Context) -> Any:
        return _lean_help(super().get_help_option(ctx))


class LeanGroup(TyperGroup):
    def get_help_option(self, ctx: Context) -> Any:
        return _lean_help(super().get_help_option(ctx))


_LEAN_COMMANDS: dict[type[Any], type[Any]] = {TyperCommand: LeanCommand, TyperGroup: LeanGroup}


def make_lean(command: Any) -> None:
    """Give `command`, its parameters and its subcommands the lean classes (in place: typer
    builds its own instances of its own classes)."""
    lean_command = _LEAN_COMMANDS.get(type(command))
    if lean_command is not None:
        command.__class__ = lean_command
    for param in command.params:
        lean = _LEAN_PARAMS.get(type(param))
        if lean is not None:
            param.__class__ = lean
    for sub in getattr(command, "commands", {}).values():
        make_lean(sub)
