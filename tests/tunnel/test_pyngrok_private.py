"""pyngrok's private names we rely on (apimw_cli/tunnel/pyngrok_private.py) still exist and still
mean what we use them for in the installed pyngrok. A failure here means: re-read pyngrok's
source for that name before raising the pin in pyproject.toml."""

from __future__ import annotations

import importlib
import inspect
import logging
from importlib.metadata import version

import pytest

from apimw_cli.tunnel.pyngrok_private import (
    CHECKED_AGAINST,
    PRIVATE_NAMES,
    PYNGROK_LOGGERS,
    installer_progress_off,
    registered_agent,
)


@pytest.mark.parametrize(("module", "name"), PRIVATE_NAMES)
def test_private_name_exists_in_the_installed_pyngrok(module: str, name: str) -> None:
    assert hasattr(importlib.import_module(module), name), (
        f"{module}.{name} is gone from pyngrok {version('pyngrok')} "
        f"(apimw checked it against {CHECKED_AGAINST}): see apimw_cli/tunnel/pyngrok_private.py"
    )


def test_installed_pyngrok_has_the_major_version_we_checked() -> None:
    assert version("pyngrok").split(".")[0] == CHECKED_AGAINST.split(".")[0]


def test_the_process_registry_is_still_keyed_by_ngrok_path() -> None:
    from pyngrok import process

    assert isinstance(process._current_processes, dict)
    assert "_current_processes[pyngrok_config.ngrok_path]" in inspect.getsource(process)
    assert registered_agent("/nowhere/ngrok") is None


def test_the_installers_progress_printer_still_reads_the_flag() -> None:
    from pyngrok import installer

    assert "if _print_progress_enabled:" in inspect.getsource(installer._print_progress)


def test_progress_is_off_inside_and_restored_after(capsys: pytest.CaptureFixture[str]) -> None:
    from pyngrok import installer

    with installer_progress_off():
        assert installer._print_progress_enabled is False
        installer._print_progress("Downloading ngrok ...")
    assert installer._print_progress_enabled is True
    assert capsys.readouterr().out == ""


def test_every_pyngrok_logger_we_mask_exists() -> None:
    for module in ("pyngrok.ngrok", "pyngrok.process", "pyngrok.installer", "pyngrok.agent"):
        importlib.import_module(module)

    missing = [name for name in PYNGROK_LOGGERS if name not in logging.root.manager.loggerDict]

    assert missing == []
