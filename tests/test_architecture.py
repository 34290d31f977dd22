"""The shape CONTRIBUTING.md promises, checked on the source tree: small modules and functions,
command modules that are not each other's libraries, layers that import downwards only, and no
import cycle. A failure names the file and line to look at."""

from __future__ import annotations

import ast
import fnmatch
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "apimw_cli"
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 100

# The layers, lowest first. A module may import its own layer and the ones below, never above.
# `main` and `commands` are the CLI; `session` runs `listen`; the rest are libraries.
LAYERS: dict[str, int] = {
    "commands": 3,
    "main": 4,
    "__main__": 4,
    "session": 2,
    "inspector": 2,
    "api": 1,
    "receiver": 1,
    "sandbox": 1,
    "tunnel": 1,
    "output": 1,
    "conformance": 1,
}  # everything else (models, errors, protocol, signing, catalog, settings, ...) is layer 0


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def dotted(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else ""
    return LAYERS.get(top, 0)


def top_level_imports(tree: ast.Module, module: str) -> Iterator[tuple[str, int]]:
    """apimw_cli modules imported when `module` is imported (not inside functions, and not
    under `if TYPE_CHECKING:`)."""

    def walk(nodes: list[ast.stmt]) -> Iterator[tuple[str, int]]:
        for node in nodes:
            if isinstance(node, ast.If):
                if "TYPE_CHECKING" not in ast.unparse(node.test):
                    yield from walk(node.body + node.orelse)
            elif isinstance(node, ast.Try):
                yield from walk(node.body + node.orelse + node.finalbody)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("apimw_cli"):
                        yield alias.name, node.lineno
            elif isinstance(node, ast.ImportFrom):
                yield from from_import(node)

    def from_import(node: ast.ImportFrom) -> Iterator[tuple[str, int]]:
        base = node.module or ""
        if node.level:
            package = module.split(".")
            if not is_package:
                package.pop()
            package = package[: len(package) - (node.level - 1)]
            base = ".".join([*package, base] if base else package)
        if base.startswith("apimw_cli"):
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                yield (candidate if candidate in known else base), node.lineno

    is_package = module in packages
    yield from walk(tree.body)


def all_imports(tree: ast.Module) -> Iterator[tuple[str, int]]:
    """Every apimw_cli import anywhere in the module, lazy ones included."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("apimw_cli"):
            for alias in node.names:
                yield f"{node.module}.{alias.name}", node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("apimw_cli"):
                    yield alias.name, node.lineno


trees = {dotted(path): (path, ast.parse(path.read_text(encoding="utf-8"))) for path in modules()}
known = set(trees)
packages = {dotted(path) for path in modules() if path.name == "__init__.py"}


def where(path: Path, line: int) -> str:
    return f"{path.relative_to(PACKAGE.parent)}:{line}"


def test_no_module_is_over_the_limit() -> None:
    long = [
        f"{where(path, 1)} has {lines} lines"
        for path, _ in trees.values()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    ]
    assert not long, f"modules over {MAX_MODULE_LINES} lines: split them\n" + "\n".join(long)


def test_no_function_is_over_the_limit() -> None:
    long = [
        f"{where(path, node.lineno)} {node.name}() has {length} lines"
        for path, tree in trees.values()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and (length := (node.end_lineno or node.lineno) - node.lineno + 1) > MAX_FUNCTION_LINES
    ]
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines\n" + "\n".join(long)


def _command_group(module: str) -> str | None:
    """`webhooks` for apimw_cli.commands.webhooks(.anything); None outside commands/."""
    parts = module.split(".")
    if len(parts) < 3 or parts[1] != "commands":
        return None
    return parts[2]


def test_command_modules_import_only_common_from_commands() -> None:
    crossing = []
    for module, (path, tree) in trees.items():
        group = _command_group(module)
        if group is None:
            continue
        for target, line in all_imports(tree):
            other = _command_group(target)
            if other is not None and other not in (group, "common"):
                crossing.append(f"{where(path, line)} imports {target}")
    assert not crossing, "command modules are not libraries: move shared code down\n" + "\n".join(
        crossing
    )


def test_layers_import_downwards_only() -> None:
    upward = [
        f"{where(path, line)}: {module} (layer {layer(module)}) imports {target} "
        f"(layer {layer(target)})"
        for module, (path, tree) in trees.items()
        for target, line in all_imports(tree)
        if layer(target) > layer(module)
    ]
    assert not upward, "a lower layer imports a higher one\n" + "\n".join(upward)


def test_no_import_cycle() -> None:
    graph = {
        module: {target for target, _ in top_level_imports(tree, module) if target != module}
        for module, (_, tree) in trees.items()
    }
    # A package's __init__ importing its own submodules is how packages work; a submodule
    # importing its package's __init__ back is the cycle we look for.
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                cycles.append([*stack[stack.index(target) :], target])
            elif target in graph and target not in state:
                visit(target, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    assert not cycles, "import cycles\n" + "\n".join(" -> ".join(cycle) for cycle in cycles)


@pytest.mark.parametrize("layer_name", sorted(LAYERS))
def test_every_layer_named_here_exists(layer_name: str) -> None:
    assert any(module.split(".")[1:2] == [layer_name] for module in trees if "." in module), (
        f"LAYERS names {layer_name!r}, which apimw_cli no longer has"
    )


# Each third-party library has owners (paths under apimw_cli/) and is imported nowhere else, so
# swapping or upgrading it touches a known set of files. httpx has several owners on purpose:
# each sends a different kind of request (API calls; forwards, replays and probes to the user's
# app; the sandbox's deliveries; the tunnel's public-URL check) with its own timeouts and
# error handling, and a wrapper shared by all would only re-export httpx.
OWNERS: dict[str, tuple[str, ...]] = {
    "typer": ("main.py", "commands/*"),
    "rich": ("output/*",),
    "httpx": (
        "api/*",
        "receiver/forwarder.py",
        "receiver/replay.py",
        "receiver/probe.py",
        "sandbox/delivery.py",
        "tunnel/*",
    ),
    "tenacity": ("api/*",),
    "pyngrok": ("tunnel/*",),
    "starlette": ("receiver/*", "sandbox/*", "inspector/*"),
    "uvicorn": ("receiver/*", "sandbox/*", "inspector/*"),
    "orjson": ("receiver/*", "output/*", "sandbox/*", "inspector/*"),
    "platformdirs": ("settings/*",),
    "filelock": ("settings/*",),
    "tomli_w": ("settings/*",),
}


def third_party_imports(tree: ast.Module) -> Iterator[tuple[str, int]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module.split(".")[0], node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0], node.lineno


def owns(library: str, relative: str) -> bool:
    return any(fnmatch.fnmatch(relative, pattern) for pattern in OWNERS[library])


def test_each_library_is_imported_only_by_its_owners() -> None:
    strays = [
        f"{where(path, line)} imports {library}, which belongs to {', '.join(OWNERS[library])}"
        for path, tree in trees.values()
        for library, line in third_party_imports(tree)
        if library in OWNERS and not owns(library, path.relative_to(PACKAGE).as_posix())
    ]
    assert not strays, "\n".join(strays)


def test_ruff_bans_each_library_outside_its_owners_only() -> None:
    """ruff flags a stray import while it is typed: the root bans every owned library, and each
    owner directory's ruff.toml bans all but its own. Here: those files agree with OWNERS."""
    root = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    banned = root["tool"]["ruff"]["lint"]["flake8-tidy-imports"]["banned-api"]
    assert set(banned) == set(OWNERS), "pyproject.toml's banned-api must list every owned library"
    for config in sorted(PACKAGE.rglob("ruff.toml")):
        directory = config.parent.relative_to(PACKAGE).as_posix()
        settings = tomllib.loads(config.read_text(encoding="utf-8"))
        assert settings.get("extend"), f"{config} must extend the root configuration"
        lifted = set(banned) - set(settings["lint"]["flake8-tidy-imports"]["banned-api"])
        expected = {
            lib
            for lib, patterns in OWNERS.items()
            if any(pattern.startswith(f"{directory}/") for pattern in patterns)
        }
        assert lifted == expected, f"{config} lifts {sorted(lifted)}, owners say {sorted(expected)}"
        for library, entry in settings["lint"]["flake8-tidy-imports"]["banned-api"].items():
            assert entry == banned[library], f"{config}: {library}'s entry differs from the root's"
    owner_directories = {
        pattern.split("/")[0]
        for patterns in OWNERS.values()
        for pattern in patterns
        if "/" in pattern
    }
    configured = {c.parent.relative_to(PACKAGE).as_posix() for c in PACKAGE.rglob("ruff.toml")}
    assert owner_directories <= configured, "an owner directory has no ruff.toml lifting its ban"
