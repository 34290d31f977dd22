"""The distributions: the wheel installs a working `apimw` with its completions, and the sdist
carries the whole test suite, which runs from the unpacked tree.

Offline: `python -m build --no-isolation` uses the build backend installed here, and the fresh
venv gets the wheel with `--no-index --no-deps`; its dependencies come from this environment's
site-packages through a .pth file (a path line only: this environment's own .pth files, such as
an editable install of apimw, are not processed there).
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def _run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, (
        f"{args}: exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    )
    return result


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(wheel, sdist), built from this tree."""
    out = tmp_path_factory.mktemp("dist")
    # cwd: out, so that a build/ directory in the checkout does not shadow the `build` package.
    _run(sys.executable, "-m", "build", "--no-isolation", "--outdir", out, ROOT, cwd=out)
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    return wheel, sdist


def test_wheel_holds_the_completions_py_typed_and_the_license(dists: tuple[Path, Path]) -> None:
    names = set(zipfile.ZipFile(dists[0]).namelist())
    for name in ("apimw.bash", "_apimw", "apimw.fish"):
        assert f"apimw_cli/completions/{name}" in names
    assert "apimw_cli/py.typed" in names
    for name in ("index.html", "app.js", "app.css"):  # the inspector's page
        assert f"apimw_cli/inspector/static/{name}" in names
    assert any(n.endswith("licenses/LICENSE") for n in names)
    assert not any(n.startswith("tests/") for n in names)
    assert not any(n.endswith("ruff.toml") for n in names)  # lint configuration stays behind


def test_wheel_in_a_fresh_venv_prints_the_bash_completion(
    dists: tuple[Path, Path], tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / "python"
    purelib = Path(
        _run(
            python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"
        ).stdout.strip()
    )
    # The dependencies (typer, ...) from this environment; apimw itself only from the wheel.
    (purelib / "_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    _run(
        sys.executable, "-m", "pip", "--python", python, "install",
        "--no-index", "--no-deps", "--quiet", dists[0],
    )  # fmt: skip
    # cwd: not the checkout, whose apimw_cli/ would be imported first.
    where = _run(python, "-c", "import apimw_cli; print(apimw_cli.__file__)", cwd=tmp_path).stdout
    assert Path(where.strip()).is_relative_to(venv)
    script = _run(bindir / "apimw", "completion", "bash", cwd=tmp_path).stdout
    packaged = zipfile.ZipFile(dists[0]).read("apimw_cli/completions/apimw.bash").decode()
    assert script == packaged
    assert "complete -F _apimw apimw" in script


def test_sdist_tests_run_from_the_unpacked_tree(dists: tuple[Path, Path], tmp_path: Path) -> None:
    with tarfile.open(dists[1]) as archive:
        archive.extractall(tmp_path / "unpacked", filter="data")
    (tree,) = (tmp_path / "unpacked").iterdir()
    needed_files = (
        "LICENSE",
        "tests/conftest.py",
        "tests/fakeapi.py",
        "tests/e2e",
        "tests/support",
        "tests/fake_ngrok",
        "docs",
        "benchmarks",
        "completions/generate.py",
        "apimw_cli/tunnel/ruff.toml",
    )
    for needed in needed_files:
        assert (tree / needed).exists(), needed
    pytest_cmd = (sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "0", "-q")
    collected = _run(*pytest_cmd, "--collect-only", cwd=tree).stdout
    assert "error" not in collected.lower().splitlines()[-1], collected[-2000:]
    assert " collected" in collected or "tests collected" in collected, collected[-500:]
    subset = (
        "tests/test_signing.py",
        "tests/test_protocol.py",
        "tests/test_architecture.py",  # reads the ruff.toml files and pyproject.toml
        "tests/test_completions.py::test_completion_command_prints_the_packaged_script",
    )
    result = _run(*pytest_cmd, *subset, cwd=tree)
    assert " passed" in result.stdout
    # The tests ran against the unpacked source, not this checkout.
    assert str(ROOT) not in result.stdout
