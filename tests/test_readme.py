"""The README's runnable examples (```sh blocks, `$ command` lines) must keep working.

Each block runs as one bash script (`set -euo pipefail`) with an isolated config dir; every
command must exit 0. A `$` line ending in a backslash continues on the next line.
A block whose first line is `# needs: sandbox` gets a sandbox that `--sandbox` reaches.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from apimw_cli.settings import ENV_SANDBOX_URL

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)


def runnable_blocks() -> list[tuple[str, list[str], bool]]:
    """(where, commands, needs a sandbox) for each ```sh block."""
    text = README.read_text(encoding="utf-8")
    blocks = []
    for match in BLOCK.finditer(text):
        line_no = text.count("\n", 0, match.start()) + 1
        lines = match.group(1).splitlines()
        commands: list[str] = []
        continued = False
        for line in lines:
            if continued:
                commands[-1] += "\n" + line
            elif line.startswith("$ "):
                commands.append(line[2:])
            else:
                continue
            continued = line.endswith("\\")
        needs_sandbox = bool(lines) and lines[0].strip() == "# needs: sandbox"
        blocks.append((f"README.md:{line_no}", commands, needs_sandbox))
    return blocks


def test_readme_has_runnable_examples() -> None:
    assert runnable_blocks()


def test_readme_starts_with_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    first = re.search(r"```bash\n(.*?)```", text, re.DOTALL)
    assert first is not None
    lines = [line for line in first.group(1).splitlines() if line.strip()]
    assert len(lines) == 2
    assert lines[0].startswith("pip install . && apimw")
    assert lines[1] == "pip install -e '.[dev]' && pytest"


def takes_long(commands: list[str]) -> bool:
    """A block of many commands (each starts Python, ~0.4 s), or a `listen --timeout` with
    nothing to --expect, which runs for the whole timeout: more than about 3 s."""
    waits = any("--timeout" in c and "--expect" not in c for c in commands)
    return len(commands) > 6 or waits


@pytest.mark.parametrize(
    ("where", "commands", "needs_sandbox"),
    [
        pytest.param(*block, marks=[pytest.mark.slow] if takes_long(block[1]) else [])
        for block in runnable_blocks()
    ],
    ids=[where for where, _, _ in runnable_blocks()],
)
def test_readme_example_runs(
    where: str, commands: list[str], needs_sandbox: bool, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    with contextlib.ExitStack() as stack:
        if needs_sandbox:
            from apimw_cli.sandbox.server import SandboxConfig, run_in_thread

            config = SandboxConfig(port=0, ephemeral=True, time_scale=60.0, rate_limit=0)
            env[ENV_SANDBOX_URL] = stack.enter_context(run_in_thread(config)).base_url
        script = "set -euo pipefail\n" + "\n".join(commands) + "\n"
        result = subprocess.run(
            ["bash", "-c", script],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, (
            f"{where}: exited {result.returncode}\n{script}{result.stderr}"
        )


def test_readme_lists_every_ndjson_record_kind() -> None:
    """Each `"record"` kind `listen --format ndjson` can print is in the README's list."""
    output = README.parent / "apimw_cli" / "output"
    source = "".join(
        (output / name).read_text(encoding="utf-8") for name in ("live.py", "ndjson.py")
    )
    kinds = set(re.findall(r'(?:_emit\(|line\(|record = )\s*"(\w+)"', source))
    kinds |= set(
        re.findall(r'(?:_emit\(|record = )[^\n]* else "(\w+)"', source)
    )  # "event" if ... else "challenge"
    assert {"ready", "event", "challenge", "forward", "note", "tunnel", "summary"} <= kinds
    text = README.read_text(encoding="utf-8")
    start = text.index("`--format ndjson` prints one JSON record per line")
    paragraph = text[start : text.index("\n\n", start)]
    assert [k for k in sorted(kinds) if f"`{k}`" not in paragraph] == []


def test_readme_documents_every_environment_variable() -> None:
    from apimw_cli.settings import names

    text = README.read_text(encoding="utf-8")
    variables = [v for k, v in vars(names).items() if k.startswith("ENV_") and isinstance(v, str)]
    # The sandbox's own credentials are fixed and public; overriding them is for tests.
    internal = {"APIMW_SANDBOX_API_KEY", "APIMW_SANDBOX_API_SECRET"}
    assert [v for v in variables if v not in text and v not in internal] == []
