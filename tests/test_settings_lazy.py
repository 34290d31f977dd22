"""apimw_cli.settings loads its modules on first use (#17): every name it exports still
resolves, an unknown one is an AttributeError, and a config file with nothing in it is read
without a TOML parser."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import apimw_cli.settings as settings
from apimw_cli.settings import ConfigFile

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", settings.__all__)
def test_every_exported_name_resolves(name: str) -> None:
    assert getattr(settings, name) is not None


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = settings.no_such_name


@pytest.mark.parametrize("text", ["", "\n", "  \n\t\n"])
def test_an_empty_config_file_has_no_profiles(tmp_path: Path, text: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    config = ConfigFile(path)
    assert config.profile_names() == []
    assert config.profile("default") == {}


def test_a_comment_only_config_file_is_still_parsed(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("# nothing yet\n")
    assert ConfigFile(path).profile_names() == []


def test_reading_a_missing_config_file_imports_no_toml_parser(tmp_path: Path) -> None:
    probe = (
        "import sys\n"
        "from pathlib import Path\n"
        "from apimw_cli.settings import ConfigFile\n"
        f"assert ConfigFile(Path({str(tmp_path / 'none.toml')!r})).profile('default') == {{}}\n"
        "assert 'tomllib' not in sys.modules\n"
        "assert 'apimw_cli.settings.resolve' not in sys.modules  # files only\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
