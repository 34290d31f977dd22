"""`apimw --help` and `--version` stay fast: no heavy library is imported to print them.

The probe (benchmarks/startup.py) runs the CLI in a fresh interpreter, in-process, for
`--help`, `--version` and the `--help` of every command path of the tree.
"""

from __future__ import annotations

import importlib.util
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


@cache
def startup() -> ModuleType:
    """benchmarks/startup.py, which is a script rather than a package module."""
    spec = importlib.util.spec_from_file_location(
        "apimw_benchmarks_startup", ROOT / "benchmarks" / "startup.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@cache
def report() -> dict[str, list[str]]:
    result: dict[str, list[str]] = startup().heavy_imports()
    return result


def test_help_and_version_import_no_heavy_module() -> None:
    offenders: dict[str, list[str]] = startup().first_offenders(report())
    details = "; ".join(f"`{inv}` imported {', '.join(mods)}" for inv, mods in offenders.items())
    assert offenders == {}, f"heavy imports at start-up (import them inside the command): {details}"


def test_probe_covers_help_version_and_every_command_help() -> None:
    invocations = set(report())
    assert {"apimw --help", "apimw --version", "apimw config --help"} <= invocations
    assert "apimw config set --help" in invocations


def test_first_offender_is_the_invocation_that_imported_first() -> None:
    sample = {"import": [], "apimw --help": ["rich"], "apimw x --help": ["httpx", "rich"]}
    assert startup().first_offenders(sample) == {
        "apimw --help": ["rich"],
        "apimw x --help": ["httpx"],
    }
