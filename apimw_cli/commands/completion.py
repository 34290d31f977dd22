"""`apimw completion SHELL`: print the shell completion script shipped in the package."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated

import typer


class Shell(StrEnum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"


def completion(
    shell: Annotated[Shell, typer.Argument(help="The shell to complete for.", metavar="SHELL")],
) -> None:
    """Print the completion script for bash, zsh or fish (redirect it into place).

    \b
    Examples:
      apimw completion bash > ~/.local/share/bash-completion/completions/apimw
      apimw completion zsh > ~/.zfunc/_apimw
      apimw completion fish > ~/.config/fish/completions/apimw.fish
    """
    from apimw_cli.completions import script

    sys.stdout.write(script(shell.value))
